// Command nvcf-cni is the pod network of the kind node image: one instance per node (a hostNetwork
// DaemonSet, /kind/manifests/default-cni.yaml). Every few seconds it lists the cluster's nodes and
//
//   - writes this node's CNI configuration (Debian's bridge + host-local + portmap plugins) for the
//     pod CIDR the controller manager gave the node, so the kubelet can start pod sandboxes;
//   - routes every other node's pod CIDR via that node's InternalIP: all kind nodes share one
//     Docker network, so plain routes are the whole overlay.
//
// It talks to the API server with its service account token. The address is CONTROL_PLANE_ENDPOINT
// (kind adds it to the DaemonSet, so this works before kube-proxy programs the Service), else
// KUBERNETES_SERVICE_HOST/PORT.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			PodCIDR  string   `json:"podCIDR"`
			PodCIDRs []string `json:"podCIDRs"`
		} `json:"spec"`
		Status struct {
			Addresses []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"addresses"`
		} `json:"status"`
	} `json:"items"`
}

type agent struct {
	node    string
	server  string
	confDir string
	client  *http.Client
	routes  map[string]string // pod CIDR -> gateway, as last programmed
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	a, err := newAgent()
	if err != nil {
		log.Fatalf("nvcf-cni: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Printf("nvcf-cni: node %s, API server %s, CNI config in %s", a.node, a.server, a.confDir)
	for {
		if err := a.sync(ctx); err != nil {
			log.Printf("nvcf-cni: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

func newAgent() (*agent, error) {
	node := os.Getenv("NODE_NAME")
	if node == "" {
		return nil, fmt.Errorf("NODE_NAME is not set (downward API spec.nodeName)")
	}
	endpoint := os.Getenv("CONTROL_PLANE_ENDPOINT")
	if endpoint == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, fmt.Errorf("neither CONTROL_PLANE_ENDPOINT nor KUBERNETES_SERVICE_HOST/PORT is set")
		}
		endpoint = net.JoinHostPort(host, port)
	}
	ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s/ca.crt holds no certificate", saDir)
	}
	confDir := os.Getenv("CNI_CONF_DIR")
	if confDir == "" {
		confDir = "/etc/cni/net.d"
	}
	return &agent{
		node:    node,
		server:  "https://" + endpoint,
		confDir: confDir,
		client: &http.Client{
			Timeout:   15 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
		routes: map[string]string{},
	}, nil
}

func (a *agent) sync(ctx context.Context) error {
	nodes, err := a.listNodes(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range nodes.Items {
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		cidr := firstIPv4(cidrs)
		if cidr == "" {
			continue // no pod CIDR allocated yet
		}
		if n.Metadata.Name == a.node {
			if err := a.writeConfig(cidr); err != nil {
				return err
			}
			continue
		}
		gw := ""
		for _, addr := range n.Status.Addresses {
			if addr.Type == "InternalIP" && net.ParseIP(addr.Address).To4() != nil {
				gw = addr.Address
				break
			}
		}
		if gw == "" {
			continue
		}
		seen[cidr] = true
		if a.routes[cidr] == gw {
			continue
		}
		if out, err := exec.CommandContext(ctx, "ip", "route", "replace", cidr, "via", gw).CombinedOutput(); err != nil {
			return fmt.Errorf("ip route replace %s via %s: %v: %s", cidr, gw, err, bytes.TrimSpace(out))
		}
		log.Printf("nvcf-cni: route %s via %s (node %s)", cidr, gw, n.Metadata.Name)
		a.routes[cidr] = gw
	}
	for cidr, gw := range a.routes {
		if seen[cidr] {
			continue
		}
		// The node is gone: its route would black-hole a CIDR the controller may hand out again.
		if out, err := exec.CommandContext(ctx, "ip", "route", "del", cidr, "via", gw).CombinedOutput(); err != nil {
			log.Printf("nvcf-cni: ip route del %s: %v: %s", cidr, err, bytes.TrimSpace(out))
		}
		delete(a.routes, cidr)
	}
	return nil
}

func (a *agent) listNodes(ctx context.Context) (*nodeList, error) {
	token, err := os.ReadFile(filepath.Join(saDir, "token")) // re-read: the kubelet rotates it
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.server+"/api/v1/nodes", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/nodes: %s", resp.Status)
	}
	var nodes nodeList
	if err := json.NewDecoder(resp.Body).Decode(&nodes); err != nil {
		return nil, fmt.Errorf("GET /api/v1/nodes: %w", err)
	}
	return &nodes, nil
}

// writeConfig writes the node's conflist when its content changes (atomically: containerd reloads
// the directory on change and must never read half a file).
func (a *agent) writeConfig(cidr string) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "nvcf-bridge",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      "nvcf0",
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": []any{[]any{map[string]any{"subnet": cidr}}},
					"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(a.confDir, "10-nvcf-bridge.conflist")
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(a.confDir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(a.confDir, ".10-nvcf-bridge.conflist.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	log.Printf("nvcf-cni: wrote %s for pod CIDR %s", path, cidr)
	return nil
}

func firstIPv4(cidrs []string) string {
	for _, c := range cidrs {
		if ip, _, err := net.ParseCIDR(c); err == nil && ip.To4() != nil {
			return c
		}
	}
	return ""
}
