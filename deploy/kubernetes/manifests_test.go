// Package kubernetes_test checks the manifests in this directory: that they
// decode strictly as the Kubernetes objects they claim to be, that the node
// configuration they carry passes the node's own validation, and that the
// pieces the kubernetes cluster provider needs (RBAC, downward API, no CPU
// limit) are there and agree with each other.
package kubernetes_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/trailspark/trailspark/cmd/trailspark/node"
)

type manifests struct {
	serviceAccounts map[string]*corev1.ServiceAccount
	roles           map[string]*rbacv1.Role
	roleBindings    []*rbacv1.RoleBinding
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	statefulSets    []*appsv1.StatefulSet
}

// load decodes every document of the files kustomization.yaml lists,
// strictly (an unknown or misplaced field fails).
func load(t *testing.T) *manifests {
	t.Helper()
	var kust struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	// Every manifest but the Secret's placeholders is applied.
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		if f != "kustomization.yaml" && f != "secret.yaml" && !slices.Contains(kust.Resources, f) {
			t.Errorf("%s is not in kustomization.yaml's resources", f)
		}
	}
	m := &manifests{serviceAccounts: map[string]*corev1.ServiceAccount{}, roles: map[string]*rbacv1.Role{},
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}}
	for _, f := range kust.Resources {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", f, err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var meta struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var obj any
			switch meta.Kind {
			case "ServiceAccount":
				o := &corev1.ServiceAccount{}
				obj, m.serviceAccounts[name(t, f, doc)] = o, o
			case "Role":
				o := &rbacv1.Role{}
				obj, m.roles[name(t, f, doc)] = o, o
			case "RoleBinding":
				o := &rbacv1.RoleBinding{}
				obj, m.roleBindings = o, append(m.roleBindings, o)
			case "ConfigMap":
				o := &corev1.ConfigMap{}
				obj, m.configMaps[name(t, f, doc)] = o, o
			case "Service":
				o := &corev1.Service{}
				obj, m.services[name(t, f, doc)] = o, o
			case "StatefulSet":
				o := &appsv1.StatefulSet{}
				obj, m.statefulSets = o, append(m.statefulSets, o)
			default:
				t.Fatalf("%s document %d: unexpected kind %q", f, i, meta.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, meta.Kind, err)
			}
		}
	}
	return m
}

func name(t *testing.T, file string, doc []byte) string {
	var o struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &o); err != nil || o.Metadata.Name == "" {
		t.Fatalf("%s: a document without a name (%v)", file, err)
	}
	return o.Metadata.Name
}

func TestManifests(t *testing.T) {
	m := load(t)
	if len(m.statefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(m.statefulSets))
	}
	ss := m.statefulSets[0]
	pod := ss.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	// The governing Service exists and is headless.
	if svc := m.services[ss.Spec.ServiceName]; svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("serviceName %q is not a headless Service here", ss.Spec.ServiceName)
	}

	// RBAC: the pod's service account may get, list, watch and patch pods.
	sa := pod.ServiceAccountName
	if m.serviceAccounts[sa] == nil {
		t.Fatalf("serviceAccountName %q has no ServiceAccount", sa)
	}
	if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
		t.Error("the service account token is not mounted: the provider cannot reach the API")
	}
	bound := false
	for _, rb := range m.roleBindings {
		if rb.RoleRef.Kind != "Role" || m.roles[rb.RoleRef.Name] == nil {
			t.Errorf("RoleBinding %s refers to %s %q, not a Role here", rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name)
			continue
		}
		for _, s := range rb.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && podVerbs(m.roles[rb.RoleRef.Name]) {
				bound = true
			}
		}
	}
	if !bound {
		t.Errorf("no Role granting get, list, watch and patch on pods is bound to ServiceAccount %q", sa)
	}

	// Downward API: the pod IP is advertised, the namespace passed on.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	field := func(name string) string {
		if e := env[name]; e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
		return ""
	}
	if field("POD_IP") != "status.podIP" || field("POD_NAMESPACE") != "metadata.namespace" {
		t.Errorf("POD_IP / POD_NAMESPACE do not come from the downward API: %v", c.Env)
	}
	if env["TRAILSPARK_ADVERTISE_HOST"].Value != "$(POD_IP)" || env["TRAILSPARK_KUBERNETES_NAMESPACE"].Value != "$(POD_NAMESPACE)" {
		t.Errorf("the node does not advertise the pod IP in its namespace: %v", c.Env)
	}

	// No CPU limit; readiness must not wait for membership (the provider
	// only counts ready pods).
	if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		t.Error("a CPU limit: cluster members time out under throttling")
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe %+v: want /healthz (with /readyz a pod waits to be ready before it counts as a member, and its node waits to be a member before it is ready)", p)
	}

	// The node's configuration passes its own validation with what the
	// pod gives it, and names the actor port the container exposes.
	cm := m.configMaps["trailspark"]
	if cm == nil || cm.Data["trailspark.yaml"] == "" {
		t.Fatal("ConfigMap trailspark with trailspark.yaml missing")
	}
	file := filepath.Join(t.TempDir(), "trailspark.yaml")
	if err := os.WriteFile(file, []byte(cm.Data["trailspark.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := node.Default()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	podEnv := map[string]string{
		"TRAILSPARK_ADVERTISE_HOST":       "10.244.1.7",
		"TRAILSPARK_KUBERNETES_NAMESPACE": "trailspark",
		"TRAILSPARK_ENCRYPTION_KEY":       "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
		"TRAILSPARK_ADMIN_TOKEN":          "tso_0123456789abcdef0123456789abcdef",
		"TRAILSPARK_STORE":                "postgres://trailspark:x@postgres:5432/trailspark",
	}
	if err := cfg.LoadEnv(func(k string) (string, bool) { v, ok := podEnv[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the ConfigMap's configuration is refused in a pod: %v", err)
	}
	if cfg.ClusterProvider != "kubernetes" || !cfg.Cluster {
		t.Errorf("cluster %v with provider %q, want cluster mode with kubernetes", cfg.Cluster, cfg.ClusterProvider)
	}
	exposed := false
	for _, p := range c.Ports {
		exposed = exposed || strconv.Itoa(int(p.ContainerPort)) == strconv.Itoa(cfg.ClusterPort)
	}
	if cfg.ClusterPort == 0 || !exposed {
		t.Errorf("cluster_port %d is not a container port", cfg.ClusterPort)
	}
	if !strings.HasPrefix(cfg.Listen, "0.0.0.0:") {
		t.Errorf("listen %s: the probes and the Service cannot reach it", cfg.Listen)
	}
}

// podVerbs reports whether the role may get, list, watch and patch pods.
func podVerbs(r *rbacv1.Role) bool {
	need := map[string]bool{"get": true, "list": true, "watch": true, "patch": true}
	for _, rule := range r.Rules {
		if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, "pods") {
			for _, v := range rule.Verbs {
				delete(need, v)
			}
		}
	}
	return len(need) == 0
}
