package cluster

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trailspark/trailspark/actors/actorpb"
)

// fakeAPIServer serves the part of the Kubernetes API that protoactor's
// provider uses, for pods of one namespace: get a pod, JSON-patch its
// labels, and watch pods by label selector. The provider names its own pod
// by os.Hostname(), which every node of one test process shares, so the
// caller's pod is the one its bearer token belongs to.
type fakeAPIServer struct {
	t  *testing.T
	ns string

	mu       sync.Mutex
	pods     map[string]*corev1.Pod // by name
	tokens   map[string]string      // bearer token → pod name
	rv       int
	watchers map[chan watchEvent]labels.Selector
	patches  []string // "pod: patch body"
	watching int      // watch requests being served
}

type watchEvent struct {
	Type   string      `json:"type"`
	Object *corev1.Pod `json:"object"`
}

func newFakeAPIServer(t *testing.T, ns string) *fakeAPIServer {
	return &fakeAPIServer{t: t, ns: ns, pods: map[string]*corev1.Pod{}, tokens: map[string]string{},
		watchers: map[chan watchEvent]labels.Selector{}}
}

// addPod adds a running, ready pod at 127.0.0.1 that the token belongs to.
func (f *fakeAPIServer) addPod(name, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	f.pods[name] = &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, UID: types.UID("uid-" + name),
			ResourceVersion: strconv.Itoa(f.rv), Labels: map[string]string{"app.kubernetes.io/name": "trailspark"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "trailspark", Ready: true}}},
	}
	f.tokens[token] = name
}

// setReady marks the pod's container ready or not, as the kubelet does
// after a readiness probe, and tells the watchers.
func (f *fakeAPIServer) setReady(name string, ready bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pod := f.pods[name].DeepCopy()
	pod.Status.ContainerStatuses[0].Ready = ready
	f.rv++
	pod.ResourceVersion = strconv.Itoa(f.rv)
	f.pods[name] = pod
	for ch, sel := range f.watchers {
		if sel.Matches(labels.Set(pod.Labels)) {
			ch <- watchEvent{"MODIFIED", pod.DeepCopy()}
		}
	}
}

func (f *fakeAPIServer) podLabels(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.pods[name].Labels {
		out[k] = v
	}
	return out
}

func (f *fakeAPIServer) patchesOf(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.patches {
		if strings.HasPrefix(p, name+": ") {
			out = append(out, p)
		}
	}
	return out
}

func (f *fakeAPIServer) activeWatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watching
}

func (f *fakeAPIServer) fail(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.t.Logf("fake API server: %d %s", code, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Code: int32(code), Message: msg})
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	pod, ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if !ok {
		f.fail(w, http.StatusUnauthorized, "unknown bearer token")
		return
	}
	prefix := "/api/v1/namespaces/" + f.ns + "/pods"
	switch {
	case r.URL.Path == prefix && r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true":
		f.watch(w, r)
	case strings.HasPrefix(r.URL.Path, prefix+"/") && r.Method == http.MethodGet:
		// The path names the host name; the token names the pod.
		f.mu.Lock()
		b, _ := json.Marshal(f.pods[pod])
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case strings.HasPrefix(r.URL.Path, prefix+"/") && r.Method == http.MethodPatch:
		f.patch(w, r, pod, strings.TrimPrefix(r.URL.Path, prefix+"/"))
	default:
		f.fail(w, http.StatusNotFound, "%s %s is not served", r.Method, r.URL)
	}
}

// patch applies the provider's JSON patch: replace /metadata/labels.
func (f *fakeAPIServer) patch(w http.ResponseWriter, r *http.Request, own, name string) {
	if name != own {
		f.fail(w, http.StatusForbidden, "pod %s may not patch pod %s", own, name)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != string(types.JSONPatchType) {
		f.fail(w, http.StatusUnsupportedMediaType, "content type %q", ct)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var ops []struct {
		Op    string            `json:"op"`
		Path  string            `json:"path"`
		Value map[string]string `json:"value"`
	}
	if err := json.Unmarshal(body, &ops); err != nil || len(ops) != 1 || ops[0].Op != "replace" || ops[0].Path != "/metadata/labels" {
		f.fail(w, http.StatusUnprocessableEntity, "unexpected patch %s", body)
		return
	}
	f.mu.Lock()
	f.patches = append(f.patches, name+": "+string(body))
	old := f.pods[name]
	pod := old.DeepCopy()
	pod.Labels = ops[0].Value
	f.rv++
	pod.ResourceVersion = strconv.Itoa(f.rv)
	f.pods[name] = pod
	for ch, sel := range f.watchers {
		was, is := sel.Matches(labels.Set(old.Labels)), sel.Matches(labels.Set(pod.Labels))
		// As the API server's watch cache does: a pod that stops matching
		// the selector is DELETED (its last matching state), one that
		// starts matching is ADDED.
		switch {
		case was && is:
			ch <- watchEvent{"MODIFIED", pod.DeepCopy()}
		case is:
			ch <- watchEvent{"ADDED", pod.DeepCopy()}
		case was:
			ch <- watchEvent{"DELETED", old.DeepCopy()}
		}
	}
	b, _ := json.Marshal(pod)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// watch streams JSON watch events, one a line: ADDED for each matching pod,
// then the changes, until the client goes away.
func (f *fakeAPIServer) watch(w http.ResponseWriter, r *http.Request) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		f.fail(w, http.StatusBadRequest, "labelSelector: %v", err)
		return
	}
	ch := make(chan watchEvent, 64)
	f.mu.Lock()
	f.watching++
	for _, p := range f.pods {
		if sel.Matches(labels.Set(p.Labels)) {
			ch <- watchEvent{"ADDED", p.DeepCopy()}
		}
	}
	f.watchers[ch] = sel
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watchers, ch)
		f.watching--
		f.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	fl.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case ev := <-ch:
			if err := enc.Encode(ev); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// Two nodes in two (fake) pods find each other through the Kubernetes API
// with protoactor's own provider, serve grains from either node, and a
// graceful stop takes the node's labels off its pod, so the other node
// drops it.
func TestKubernetesProvider(t *testing.T) {
	const ns = "trailspark-test"
	fake := newFakeAPIServer(t, ns)
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	fake.addPod("trailspark-0", "token-0")
	fake.addPod("trailspark-1", "token-1")
	start := func(token string) *Node {
		return startReady(t, Config{Name: "k8s-test", Provider: ProviderKubernetes, Host: "127.0.0.1",
			Kubernetes: KubernetesConfig{APIServer: srv.URL, Token: token, Namespace: ns, CAData: ca}})
	}
	began := time.Now()
	a := start("token-0")
	defer a.Stop(false)
	b := start("token-1")
	defer b.Stop(false)
	t.Logf("both ready after %v", time.Since(began))

	deadline := time.Now().Add(10 * time.Second)
	for len(a.Members()) != 2 || len(b.Members()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not form: a sees %v, b sees %v", a.Members(), b.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Each pod carries the library's labels: cluster, actor port, member
	// id, kinds; the pod's own labels stay.
	for name, n := range map[string]*Node{"trailspark-0": a, "trailspark-1": b} {
		l := fake.podLabels(name)
		port := n.Address()[strings.LastIndex(n.Address(), ":")+1:]
		if l[k8s.LabelCluster] != "k8s-test" || l[k8s.LabelPort] != port || l[k8s.LabelKind+"-echo"] != "true" ||
			l["app.kubernetes.io/name"] != "trailspark" {
			t.Fatalf("pod %s labels = %v, want the cluster's with port %s", name, l, port)
		}
		if l[k8s.LabelMemberID] == "" || n.ID() != l[k8s.LabelMemberID] {
			t.Fatalf("node on %s: ID() = %s, want its member id label %q", name, n.ID(), l[k8s.LabelMemberID])
		}
	}
	if a.Coordinator() == b.Coordinator() {
		t.Fatalf("coordinator: a %v, b %v; want exactly one", a.Coordinator(), b.Coordinator())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	infos := a.MemberInfos(ctx)
	cancel()
	if len(infos) != 2 || !infos[0].Self || infos[0].ID != a.ID() || infos[1].Self || infos[1].Address != b.Address() {
		t.Fatalf("member infos on a = %+v", infos)
	}

	// One activation per identity, reachable from both nodes.
	onA := placeOn(t, a, a, b)

	// Graceful stop of a: its labels come off its pod, b drops it and
	// serves a's identities.
	left := time.Now()
	a.Stop(true)
	t.Logf("a stopped in %v", time.Since(left))
	l := fake.podLabels("trailspark-0")
	for k := range l {
		if strings.HasPrefix(k, k8s.LabelPrefix) {
			t.Fatalf("pod trailspark-0 keeps %s after a graceful stop: %v", k, l)
		}
	}
	if l["app.kubernetes.io/name"] != "trailspark" {
		t.Fatalf("deregistration dropped the pod's own labels: %v", l)
	}
	if p := fake.patchesOf("trailspark-0"); len(p) != 2 {
		t.Fatalf("patches of trailspark-0 = %v, want register and deregister", p)
	}
	deadline = time.Now().Add(5 * time.Second)
	for len(b.Members()) != 1 || b.Members()[0] != b.ID() {
		if time.Now().After(deadline) {
			t.Fatalf("b still sees %v after a left", b.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("b dropped a %v after a began to stop", time.Since(left))
	// a's identities are served by b (a request racing the library's PID
	// cache cleanup may time out once; the guarantee is "within seconds").
	if got := waitServed(t, b, onA, a.Address()); got != b.Address() {
		t.Fatalf("identity %s after a left is served by %s, want %s", onA, got, b.Address())
	}
	if !b.Coordinator() {
		t.Fatal("the only member is not the coordinator")
	}

	// Stopping b ends its watch too: nothing of the provider outlives the
	// nodes.
	b.Stop(true)
	deadline = time.Now().Add(5 * time.Second)
	for fake.activeWatches() != 0 || providerGoroutines() != "" {
		if time.Now().After(deadline) {
			t.Fatalf("after both stopped: %d watches open; provider goroutines:\n%s", fake.activeWatches(), providerGoroutines())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A pod that stops counting as a member for a moment (its container not
// ready) is dropped by every node, itself included, and the library never
// lets its member id back: the node reports itself excluded and not ready
// until it restarts with a new id.
func TestKubernetesUnreadyPodIsExcluded(t *testing.T) {
	const ns = "trailspark-test"
	fake := newFakeAPIServer(t, ns)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.addPod("trailspark-0", "token-0")
	fake.addPod("trailspark-1", "token-1")
	start := func(token string) *Node {
		return startReady(t, Config{Name: "k8s-test", Provider: ProviderKubernetes,
			Kubernetes: KubernetesConfig{APIServer: srv.URL, Token: token, Namespace: ns}})
	}
	a := start("token-0")
	defer a.Stop(true)
	b := start("token-1")
	defer b.Stop(true)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: a sees %v, b sees %v", what, a.Members(), b.Members())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("cluster formed", func() bool { return len(a.Members()) == 2 && len(b.Members()) == 2 })
	if a.Excluded() || b.Excluded() {
		t.Fatal("excluded in a healthy cluster")
	}

	fake.setReady("trailspark-1", false)
	waitFor("unready pod dropped", func() bool { return len(a.Members()) == 1 && len(b.Members()) == 1 })
	fake.setReady("trailspark-1", true)
	time.Sleep(300 * time.Millisecond) // the watch delivers the change at once
	if len(a.Members()) != 1 || a.Members()[0] != a.ID() {
		t.Fatalf("a sees %v: the blocked member came back", a.Members())
	}
	if !b.Excluded() || b.Ready() || a.Excluded() || !a.Ready() {
		t.Fatalf("excluded: a %v b %v; ready: a %v b %v", a.Excluded(), b.Excluded(), a.Ready(), b.Ready())
	}
	if _, err := a.Request(context.Background(), "echo", "x", &actorpb.Ping{}); err != nil {
		t.Fatalf("the remaining member does not serve: %v", err)
	}
}

// A container restarted in place (a crash) finds its previous run's labels
// on its pod. The library would keep the old member id and port (it merges
// the pod's labels over its own); the node clears them first and joins
// with its own.
func TestKubernetesRestartedContainerJoins(t *testing.T) {
	const ns = "trailspark-test"
	fake := newFakeAPIServer(t, ns)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.addPod("trailspark-0", "token-0")
	fake.mu.Lock()
	for k, v := range map[string]string{k8s.LabelCluster: "k8s-test", k8s.LabelPort: "1", k8s.LabelMemberID: "stale", k8s.LabelKind + "-echo": "true"} {
		fake.pods["trailspark-0"].Labels[k] = v
	}
	fake.mu.Unlock()
	n, err := Start(Config{Name: "k8s-test", Provider: ProviderKubernetes,
		Kubernetes: KubernetesConfig{APIServer: srv.URL, Token: "token-0", Namespace: ns}}, echoKind)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatalf("%v; pod labels %v", err, fake.podLabels("trailspark-0"))
	}
	l := fake.podLabels("trailspark-0")
	if l[k8s.LabelMemberID] == "stale" || l[k8s.LabelMemberID] != n.ID() || !strings.HasSuffix(n.Address(), ":"+l[k8s.LabelPort]) {
		t.Fatalf("pod labels %v for node %s at %s", l, n.ID(), n.Address())
	}
}

// providerGoroutines returns the stacks of goroutines running the k8s
// provider's or client-go's code.
func providerGoroutines() string {
	return goroutinesMatching("clusterproviders/k8s", "k8s.io/client-go")
}

// A node out of a pod must name its namespace and advertise an IP; in
// either case it refuses to start instead of retrying forever.
func TestKubernetesProviderRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no namespace", Config{Provider: ProviderKubernetes, Kubernetes: KubernetesConfig{APIServer: "https://127.0.0.1:1"}}, "namespace"},
		{"wildcard host", Config{Provider: ProviderKubernetes, Host: "0.0.0.0", Kubernetes: KubernetesConfig{APIServer: "https://127.0.0.1:1", Namespace: "x"}}, "pod IP"},
		{"bad url", Config{Provider: ProviderKubernetes, Kubernetes: KubernetesConfig{APIServer: "127.0.0.1:1", Namespace: "x"}}, "URL"},
		{"bad cluster name", Config{Name: "a/b", Provider: ProviderKubernetes, Kubernetes: KubernetesConfig{APIServer: "https://127.0.0.1:1", Namespace: "x"}}, "label value"},
	} {
		n, err := Start(tc.cfg, echoKind)
		if err == nil {
			n.Stop(false)
			t.Fatalf("%s: started", tc.name)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err = %v, want one about %s", tc.name, err, tc.want)
		}
	}
}
