// Command pause is the pod sandbox process of the kind node image: it holds the pod's namespaces
// open, reaps the zombies that end up with it as their init, and exits 0 on SIGINT or SIGTERM.
// The node image tags it with the sandbox image name kubeadm expects (registry.k8s.io/pause:TAG),
// because no registry can be reached to pull the upstream one.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (nvcf-conformance kind node image)")
		return
	}
	if os.Getpid() != 1 {
		// Not fatal: run by hand for a test it still blocks; only zombie reaping needs PID 1.
		fmt.Fprintln(os.Stderr, "pause: warning: not PID 1")
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child: one SIGCHLD can stand for several exits.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
