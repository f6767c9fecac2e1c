package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ProviderKubernetes is membership through the Kubernetes API, with
// protoactor-go's own provider (clusterproviders/k8s): each node labels its
// own pod (cluster name, actor port, member id, one label per grain kind)
// and watches the pods that carry its cluster's label. A pod is a member
// while it is Running with every container ready; its host is the pod IP.
//
// What the library takes from its environment, and so what a node needs:
//   - the pod name is os.Hostname() (true in a pod unless spec.hostname is
//     set);
//   - the namespace is the service account's namespace file; out of a pod
//     KubernetesConfig.Namespace stands in for it;
//   - members are reached at the pod IP, so the node must advertise it
//     (AdvertiseHost = status.podIP from the downward API);
//   - the service account may get, list, watch and patch pods.
const ProviderKubernetes = "kubernetes"

// serviceAccountNamespaceFile is where the library reads the namespace.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// KubernetesConfig configures ProviderKubernetes. The zero value is right
// in a pod: the API server, credentials and namespace are the service
// account's.
type KubernetesConfig struct {
	// Namespace of this node's pod. In a pod it must be empty or the
	// service account's namespace (the library always uses that one);
	// out of a pod (APIServer set) it is required.
	Namespace string
	// APIServer is the API server's URL for a node that is not in a pod
	// (tests, a node run by hand against a cluster); empty = in-cluster
	// configuration.
	APIServer string
	// Token or TokenFile is the bearer token for APIServer.
	Token     string
	TokenFile string
	// CAFile or CAData is the API server's CA (PEM); Insecure skips TLS
	// verification instead (tests only).
	CAFile   string
	CAData   []byte
	Insecure bool
}

// restConfig is the client configuration for cfg: in-cluster when no API
// server is named.
func (cfg KubernetesConfig) restConfig() (*rest.Config, error) {
	if cfg.APIServer == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster: kubernetes provider: not running in a pod (%v); name the API server to use one from outside", err)
		}
		return rc, nil
	}
	u, err := url.Parse(cfg.APIServer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("cluster: kubernetes provider: API server %q is not an http(s) URL", cfg.APIServer)
	}
	if cfg.Token != "" && cfg.TokenFile != "" {
		return nil, errors.New("cluster: kubernetes provider: give a token or a token file, not both")
	}
	return &rest.Config{
		Host:            cfg.APIServer,
		BearerToken:     cfg.Token,
		BearerTokenFile: cfg.TokenFile,
		TLSClientConfig: rest.TLSClientConfig{CAFile: cfg.CAFile, CAData: cfg.CAData, Insecure: cfg.Insecure},
	}, nil
}

// newKubernetesProvider builds the library's provider for a node of
// cluster name whose grain kinds are kinds.
func newKubernetesProvider(cfg KubernetesConfig, name string, kinds []string) (pcluster.ClusterProvider, error) {
	// The library writes these as labels; an invalid one makes the API
	// server refuse every registration, which the library retries forever.
	if errs := validation.IsValidLabelValue(name); len(errs) > 0 {
		return nil, fmt.Errorf("cluster: kubernetes provider: cluster name %q is not a label value: %s", name, strings.Join(errs, "; "))
	}
	for _, kind := range kinds {
		if errs := validation.IsQualifiedName(k8s.LabelKind + "-" + kind); len(errs) > 0 {
			return nil, fmt.Errorf("cluster: kubernetes provider: grain kind %q does not fit in a label name: %s", kind, strings.Join(errs, "; "))
		}
	}
	rc, err := cfg.restConfig()
	if err != nil {
		return nil, err
	}
	// The library has no namespace option: it reads the service account's
	// namespace file and, without one, asks for pods in no namespace
	// (/api/v1/pods/NAME, which the API server does not serve). In a pod
	// the file is authoritative; out of one, requests without a namespace
	// are sent to cfg.Namespace.
	ns := cfg.Namespace
	if sa, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
		if ns = strings.TrimSpace(string(sa)); cfg.Namespace != "" && cfg.Namespace != ns {
			return nil, fmt.Errorf("cluster: kubernetes provider: namespace %q is not this pod's (the service account's is %q, and the library uses that one)", cfg.Namespace, ns)
		}
	} else {
		if cfg.Namespace == "" {
			return nil, errors.New("cluster: kubernetes provider: no namespace: not in a pod (no service account namespace file), so name the namespace")
		}
		if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
			return nil, fmt.Errorf("cluster: kubernetes provider: namespace %q: %s", cfg.Namespace, strings.Join(errs, "; "))
		}
		rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return namespacedTransport{ns: ns, next: rt} })
	}
	if err := clearStaleLabels(rc, ns); err != nil {
		return nil, err
	}
	p, err := k8s.NewWithConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("cluster: kubernetes provider: %w", err)
	}
	return p, nil
}

// clearStaleLabels takes off this pod the provider's labels that an earlier
// run of the node left there: a container restarted in place (a crash, an
// OOM kill, a failed liveness probe) never deregistered. The library merges
// the pod's existing labels over the ones it registers, so the old member
// id would win; every member blocked that id when the pod turned unready,
// so the node would stay out of the cluster for good.
func clearStaleLabels(rc *rest.Config, ns string) error {
	podName, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("cluster: kubernetes provider: the pod name is the host name: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("cluster: kubernetes provider: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods := client.CoreV1().Pods(ns)
	pod, err := pods.Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("cluster: kubernetes provider: reading this node's pod %s/%s: %w", ns, podName, err)
	}
	labels := map[string]string{}
	stale := false
	for k, v := range pod.Labels {
		if strings.HasPrefix(k, k8s.LabelPrefix) {
			stale = true
			continue
		}
		labels[k] = v
	}
	if !stale {
		return nil
	}
	// The same patch the library sends when it deregisters.
	patch, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/metadata/labels", "value": labels}})
	if err != nil {
		return err
	}
	if _, err := pods.Patch(ctx, pod.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cluster: kubernetes provider: removing the labels an earlier run left on pod %s/%s: %w", ns, pod.Name, err)
	}
	return nil
}

// namespacedTransport puts requests for pods in no namespace into ns.
type namespacedTransport struct {
	ns   string
	next http.RoundTripper
}

func (t namespacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	const prefix = "/api/v1/pods"
	p := req.URL.Path
	if p != prefix && !strings.HasPrefix(p, prefix+"/") {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.URL.Path = "/api/v1/namespaces/" + t.ns + strings.TrimPrefix(p, "/api/v1")
	r.URL.RawPath = ""
	return t.next.RoundTrip(r)
}

// kubernetesAdvertised checks that a kubernetes node is reachable at the
// address the library will give others: the pod IP, with the port the
// node listens on.
func kubernetesAdvertised(cfg Config) error {
	host := cfg.AdvertiseHost
	if host == "" {
		host = cfg.Host
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("cluster: kubernetes provider: the node must advertise its pod IP (members are reached at status.podIP), not %q", host)
	}
	return nil
}
