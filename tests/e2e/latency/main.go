// Command latency measures how much kadmit's admission webhooks add to a pod CREATE, and how
// that compares with what a webhook that does no work adds.
//
// It creates pods one after another in up to three namespaces: one the kadmit webhooks see, one
// that only a fixed-response webhook sees (-fixed-label: the e2e suite registers the bench's
// bench_fixed_server, over TLS like kadmit, for namespaces with that label), and one labelled
// kadmit.dev/ignore=true that no webhook sees (the baseline). The configurations are
// interleaved, each round in a rotated order, so that machine noise hits them alike. It prints
// median and p99 of each, what each webhook adds over the baseline, and kadmit's added latency
// as a ratio to the fixed webhook's. The pods are agent pods (label app=agent, no probes) so the
// mutating webhook does real work. Nothing is asserted: the numbers are for humans (and the e2e
// scenario checks only that they were produced). Pods are deleted afterwards.
//
//	go run ./latency -kubeconfig KUBECONFIG -n 100 [-fixed-label kadmit.dev/e2e-latency-fixed]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// config is one way of creating a pod: the namespace decides which webhooks are called.
type config struct {
	name  string // printed
	tag   string // in pod names
	ns    string
	times []time.Duration
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	n := flag.Int("n", 50, "pods to create per configuration")
	warmup := flag.Int("warmup", 5, "untimed creates per configuration before measuring")
	ignoreLabel := flag.String("ignore-label", "kadmit.dev/ignore", "namespace label the webhooks' namespaceSelector skips")
	fixedLabel := flag.String("fixed-label", "", "namespace label a fixed-response webhook selects (empty: no fixed configuration)")
	podKind := flag.String("pod", "agent", "agent: app=agent pods without probes, which kadmit mutates (sidecar, probes); plain: compliant pods kadmit admits unchanged")
	prefix := flag.String("namespace-prefix", "e2e-latency", "namespaces <prefix>-webhooks, <prefix>-fixed and <prefix>-none are used")
	flag.Parse()
	switch *podKind {
	case "agent":
	case "plain":
		newPod = plainPod
	default:
		fatal("-pod %q: want agent or plain", *podKind)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fatal("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000 // measure the server, not client-side throttling
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fatal("client: %v", err)
	}
	ctx := context.Background()

	kadmit := &config{name: "kadmit webhooks", tag: "w", ns: *prefix + "-webhooks"}
	none := &config{name: "no webhooks", tag: "n", ns: *prefix + "-none"}
	ensureNamespace(ctx, cs, kadmit.ns, nil)
	ensureNamespace(ctx, cs, none.ns, map[string]string{*ignoreLabel: "true"})
	configs := []*config{kadmit, none}
	var fixed *config
	if *fixedLabel != "" {
		fixed = &config{name: "fixed-response webhooks", tag: "f", ns: *prefix + "-fixed"}
		ensureNamespace(ctx, cs, fixed.ns, map[string]string{*ignoreLabel: "true", *fixedLabel: "true"})
		configs = []*config{kadmit, fixed, none}
	}

	run(ctx, cs, configs, *warmup, false)
	run(ctx, cs, configs, *n, true)

	fmt.Printf("pod CREATE latency over %d pods per configuration (sequential, interleaved):\n", *n)
	for _, c := range configs {
		fmt.Printf("  %-28s median %8s  p99 %8s\n", c.name+":", round(percentile(c.times, 50)), round(percentile(c.times, 99)))
	}
	addedMedian := func(c *config) time.Duration { return percentile(c.times, 50) - percentile(none.times, 50) }
	addedP99 := func(c *config) time.Duration { return percentile(c.times, 99) - percentile(none.times, 99) }
	fmt.Printf("  %-28s median %8s  p99 %8s\n", "added by kadmit:", round(addedMedian(kadmit)), round(addedP99(kadmit)))
	if fixed != nil {
		fmt.Printf("  %-28s median %8s  p99 %8s\n", "added by fixed webhook:", round(addedMedian(fixed)), round(addedP99(fixed)))
		fmt.Printf("  %-28s median %8s  p99 %8s\n", "kadmit added / fixed added:",
			ratio(addedMedian(kadmit), addedMedian(fixed)), ratio(addedP99(kadmit), addedP99(fixed)))
	}

	for _, c := range configs {
		_ = cs.CoreV1().Pods(c.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	}
}

// run creates n pods per configuration, one round at a time; round i starts with configuration
// i mod len(configs), so no configuration always follows the same one.
func run(ctx context.Context, cs *kubernetes.Clientset, configs []*config, n int, record bool) {
	for i := 0; i < n; i++ {
		for j := range configs {
			c := configs[(i+j)%len(configs)]
			d := create(ctx, cs, c, i, record)
			if record {
				c.times = append(c.times, d)
			}
		}
	}
}

func create(ctx context.Context, cs *kubernetes.Clientset, c *config, i int, record bool) time.Duration {
	tag := c.tag
	if !record {
		tag = "warm-" + tag
	}
	p := newPod(fmt.Sprintf("lat-%s-%d-%d", tag, time.Now().UnixNano()%1000000, i))
	start := time.Now()
	_, err := cs.CoreV1().Pods(c.ns).Create(ctx, p, metav1.CreateOptions{})
	d := time.Since(start)
	if err != nil {
		fatal("create pod in %s: %v", c.ns, err)
	}
	return d
}

// ratio prints a/b, or n/a when either added latency is not positive (the noise was larger than
// what the webhook adds; p99 over 50 creates is nearly the maximum and often is).
func ratio(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func ensureNamespace(ctx context.Context, cs *kubernetes.Clientset, name string, labels map[string]string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		if _, gerr := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); gerr != nil {
			fatal("namespace %s: %v", name, err)
		}
	}
}

var newPod = agentPod

func agentPod(name string) *corev1.Pod {
	grace := int64(120)
	q := resource.MustParse
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "agent"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:  "agent",
				Image: "registry.chaozcode.com/agent:2.4.0",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: q("200m"), corev1.ResourceMemory: q("128Mi")},
				},
			}},
		},
	}
}

// plainPod is the agent pod without the app=agent label and with both probes: nothing for kadmit
// to add, so its mutating webhook answers without a patch.
func plainPod(name string) *corev1.Pod {
	p := agentPod(name)
	p.Labels = map[string]string{"app": "web"}
	c := &p.Spec.Containers[0]
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health/ready", Port: intstr.FromString("http")}}}
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health/live", Port: intstr.FromString("http")}}}
	return p
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100 // nearest rank
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "latency: "+format+"\n", a...)
	os.Exit(1)
}
