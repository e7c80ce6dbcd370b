package e2e

// docs/kubernetes.md's manifests are decoded strictly into the Kubernetes
// API types, as the API server does (case-sensitive field names, no
// unknown or duplicate fields), so that a misspelt field or a value of the
// wrong type fails here rather than at `kubectl apply`, and the facts the
// page explains are checked against the code that needs them (preflight's
// capabilities).

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/rustscope/rustscope/preflight"
)

func TestKubernetesManifests(t *testing.T) {
	md, err := os.ReadFile(repoPath("docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i, doc := range yamlDocs(md) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("yaml document %d: %v\n%s", i+1, err, doc)
		}
		what := fmt.Sprintf("yaml document %d (%s)", i+1, meta.Kind)
		kinds[meta.Kind]++
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 DaemonSet":
			var ds appsv1.DaemonSet
			if err := decodeStrict(doc, &ds); err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			checkSelector(t, what, ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels)
			pod := &ds.Spec.Template.Spec
			if !pod.HostPID {
				t.Errorf("%s: hostPID is not true: rustscope would see only its own processes", what)
			}
			c := checkRustscopeContainer(t, what, pod)
			if c != nil && !slices.Contains(c.Args, "--all") && envValue(c, "OTEL_TARGET_EXE") == "" {
				t.Errorf("%s: neither --all nor OTEL_TARGET_EXE: no target", what)
			}
		case "apps/v1 Deployment":
			var d appsv1.Deployment
			if err := decodeStrict(doc, &d); err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			checkSelector(t, what, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
			pod := &d.Spec.Template.Spec
			if pod.ShareProcessNamespace == nil || !*pod.ShareProcessNamespace || pod.HostPID {
				t.Errorf("%s: a sidecar needs shareProcessNamespace: true (and no hostPID, which excludes it)", what)
			}
			if len(pod.Containers) != 2 {
				t.Errorf("%s: %d containers, want the service and rustscope", what, len(pod.Containers))
			}
			c := checkRustscopeContainer(t, what, pod)
			if exe := envValue(c, "OTEL_TARGET_EXE"); c != nil && !strings.HasPrefix(exe, "/") {
				t.Errorf("%s: OTEL_TARGET_EXE %q is not the absolute path of the service's executable", what, exe)
			}
			if c != nil && envValue(c, "OTEL_SERVICE_NAME") == "" {
				t.Errorf("%s: no OTEL_SERVICE_NAME", what)
			}
		default:
			t.Errorf("%s: %s %s is not checked by this test", what, meta.APIVersion, meta.Kind)
		}
	}
	if kinds["DaemonSet"] != 1 || kinds["Deployment"] != 1 {
		t.Errorf("manifests %v: want one DaemonSet and one sidecar Deployment", kinds)
	}
}

// decodeStrict decodes a YAML manifest into an API type the way the API
// server's strict field validation does.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	return errors.Join(append(strict, err)...)
}

// yamlDocs returns the documents of every ```yaml block of a Markdown file.
func yamlDocs(md []byte) [][]byte {
	var docs [][]byte
	for _, m := range regexp.MustCompile("(?ms)^```yaml\n(.*?)^```").FindAllSubmatch(md, -1) {
		for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(m[1]), -1) {
			if strings.TrimSpace(d) != "" {
				docs = append(docs, []byte(d))
			}
		}
	}
	return docs
}

// checkSelector: Kubernetes rejects a workload whose selector does not
// match its pod template's labels.
func checkSelector(t *testing.T, what string, selector, labels map[string]string) {
	t.Helper()
	if len(selector) == 0 {
		t.Errorf("%s: empty selector", what)
	}
	for k, v := range selector {
		if labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the template's labels %v", what, k, v, labels)
		}
	}
}

// checkRustscopeContainer checks what rustscope needs in a pod (see
// docs/kubernetes.md) and returns its container.
func checkRustscopeContainer(t *testing.T, what string, pod *corev1.PodSpec) *corev1.Container {
	t.Helper()
	var c *corev1.Container
	for i := range pod.Containers {
		if strings.Contains(pod.Containers[i].Image, "/rustscope:") {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		t.Errorf("%s: no container runs the rustscope image", what)
		return nil
	}
	what += " container " + c.Name

	// Exactly the capabilities preflight asks for, named as Kubernetes
	// names them (without CAP_).
	var want []string
	for _, cp := range []preflight.Cap{preflight.BPF, preflight.Perfmon, preflight.SysPtrace, preflight.DACReadSearch} {
		want = append(want, strings.TrimPrefix(cp.String(), "CAP_"))
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Errorf("%s: no securityContext.capabilities", what)
		return c
	}
	var add []string
	for _, cp := range sc.Capabilities.Add {
		add = append(add, string(cp))
	}
	slices.Sort(add)
	slices.Sort(want)
	if !slices.Equal(add, want) {
		t.Errorf("%s: capabilities.add %v, want %v", what, add, want)
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities.drop does not drop ALL", what)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged, though the capabilities suffice", what)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeUnconfined {
		t.Errorf("%s: seccompProfile is not Unconfined: the default profiles refuse bpf() without CAP_SYS_ADMIN", what)
	}

	if got := envValue(c, "OTEL_EXPORTER_OTLP_ENDPOINT"); got != "http://otel-collector:4317" {
		t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT %q, want the collector service http://otel-collector:4317", what, got)
	}
	// Kubernetes expands $(NAME) only for variables defined before.
	for i, e := range c.Env {
		for _, ref := range regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).FindAllStringSubmatch(e.Value, -1) {
			if !slices.ContainsFunc(c.Env[:i], func(d corev1.EnvVar) bool { return d.Name == ref[1] }) {
				t.Errorf("%s: %s refers to $(%s), not defined before it", what, e.Name, ref[1])
			}
		}
	}

	// tracefs: the host's, read-only (mounting it would need CAP_SYS_ADMIN).
	var vol string
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/sys/kernel/tracing" {
			vol = m.Name
			if !m.ReadOnly {
				t.Errorf("%s: tracefs mounted read-write", what)
			}
		}
	}
	if i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vol }); vol == "" || i < 0 ||
		pod.Volumes[i].HostPath == nil || pod.Volumes[i].HostPath.Path != "/sys/kernel/tracing" {
		t.Errorf("%s: no hostPath volume of /sys/kernel/tracing mounted at /sys/kernel/tracing", what)
	}

	r := c.Resources
	if r.Limits.Cpu().IsZero() || r.Limits.Memory().IsZero() || r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() {
		t.Errorf("%s: resources %v: want CPU and memory requests and limits", what, r)
	} else if r.Requests.Cpu().Cmp(*r.Limits.Cpu()) > 0 || r.Requests.Memory().Cmp(*r.Limits.Memory()) > 0 {
		t.Errorf("%s: requests above limits: %v", what, r)
	}
	return c
}

func envValue(c *corev1.Container, name string) string {
	if c == nil {
		return ""
	}
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
