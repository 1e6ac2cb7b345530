// Command nvcf-runc stands in front of runc where the capability bounding set lacks
// CAP_SYS_RESOURCE (this machine: CapBnd 000001fffeffffff). Without that capability runc cannot
// give a container CAP_SYS_RESOURCE ("unable to apply caps: operation not permitted", what every
// --privileged container and privileged pod asks for), nor lower an OOM score (the kubelet gives
// pod sandboxes oomScoreAdj -998: "can't get final child's PID from pipe: EOF").
//
// For `create` and `run` it edits the bundle's config.json, for `exec` the --process JSON (and
// drops `--cap CAP_SYS_RESOURCE`): CAP_SYS_RESOURCE leaves every capability set and a negative
// oomScoreAdj becomes 0. Then it execs the real runc with the same arguments. Where the bounding
// set does hold CAP_SYS_RESOURCE it changes nothing, so the wrapper is harmless elsewhere.
//
// The real runc is $NVCF_REAL_RUNC, else /usr/sbin/runc (Debian's runc package).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	capName   = "CAP_SYS_RESOURCE"
	capBit    = 24 // linux/capability.h
	defReal   = "/usr/sbin/runc"
	realRuncV = "NVCF_REAL_RUNC"
)

// runc's global flags that take a value (runc 1.1: main.go); the subcommand is the first
// argument that is neither one of them, nor their value, nor another flag.
var globalWithValue = map[string]bool{"--log": true, "--log-format": true, "--root": true, "--criu": true, "--rootless": true}

func main() {
	real := os.Getenv(realRuncV)
	if real == "" {
		real = defReal
	}
	args := os.Args[1:]
	if !hasCapability(capBit) {
		var err error
		if args, err = adjust(args); err != nil {
			fmt.Fprintf(os.Stderr, "nvcf-runc: %v\n", err)
			os.Exit(1)
		}
	}
	argv := append([]string{real}, args...)
	if err := syscall.Exec(real, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "nvcf-runc: exec %s: %v\n", real, err)
		os.Exit(127)
	}
}

// hasCapability reports whether bit is in this process's capability bounding set.
func hasCapability(bit uint) bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return true // cannot tell: change nothing
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || n&(1<<bit) != 0
		}
	}
	return true
}

// adjust edits the files the subcommand will read and returns the arguments to pass on.
func adjust(args []string) ([]string, error) {
	i := subcommandIndex(args)
	if i < 0 {
		return args, nil
	}
	switch args[i] {
	case "create", "run":
		bundle := flagValue(args[i+1:], "-b", "--bundle")
		if bundle == "" {
			bundle = "."
		}
		return args, editJSON(filepath.Join(bundle, "config.json"), func(spec map[string]any) {
			if proc, ok := spec["process"].(map[string]any); ok {
				fixProcess(proc)
			}
		})
	case "exec":
		if p := flagValue(args[i+1:], "-p", "--process"); p != "" {
			if err := editJSON(p, fixProcess); err != nil {
				return nil, err
			}
		}
		return dropCapFlags(args, i), nil
	}
	return args, nil
}

func subcommandIndex(args []string) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return i
		}
		if globalWithValue[a] {
			i++ // skip its value
		}
	}
	return -1
}

// flagValue finds `-x V`, `--long V`, `-x=V` or `--long=V` among the subcommand's arguments.
func flagValue(args []string, short, long string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if (a == short || a == long) && i+1 < len(args) {
			return args[i+1]
		}
		for _, name := range []string{short, long} {
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
	}
	return ""
}

// dropCapFlags removes `--cap CAP_SYS_RESOURCE` / `-c CAP_SYS_RESOURCE` (and the = forms) after
// the subcommand at index sub.
func dropCapFlags(args []string, sub int) []string {
	out := append([]string{}, args[:sub+1]...)
	for i := sub + 1; i < len(args); i++ {
		a := args[i]
		if (a == "--cap" || a == "-c") && i+1 < len(args) && args[i+1] == capName {
			i++
			continue
		}
		if a == "--cap="+capName || a == "-c="+capName {
			continue
		}
		out = append(out, a)
	}
	return out
}

// fixProcess edits an OCI process object: no CAP_SYS_RESOURCE, no negative oomScoreAdj.
func fixProcess(proc map[string]any) {
	if caps, ok := proc["capabilities"].(map[string]any); ok {
		for set, v := range caps {
			list, ok := v.([]any)
			if !ok {
				continue
			}
			kept := make([]any, 0, len(list))
			for _, c := range list {
				if c != capName {
					kept = append(kept, c)
				}
			}
			caps[set] = kept
		}
	}
	if n, ok := proc["oomScoreAdj"].(json.Number); ok {
		if v, err := n.Int64(); err == nil && v < 0 {
			proc["oomScoreAdj"] = json.Number("0")
		}
	}
}

// editJSON rewrites a JSON object file in place; numbers keep their exact text (json.Number), so
// memory limits and the like survive the round trip.
func editJSON(path string, edit func(map[string]any)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".nvcf-runc"
	if err := os.WriteFile(tmp, out, info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
