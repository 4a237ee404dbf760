// Command latency measures how much kadmit's admission webhooks add to a pod CREATE.
//
// It creates -n pods one after another in a namespace the webhooks see, then -n pods in a
// namespace labelled kadmit.dev/ignore=true (which the shipped webhook configurations'
// namespaceSelector skips), and prints median and p99 of each plus the difference. The pods are
// agent pods (label app=agent, no probes) so the mutating webhook does real work. Nothing is
// asserted: the numbers are for humans. Pods are deleted afterwards.
//
//	go run ./latency -kubeconfig KUBECONFIG -n 100
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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	n := flag.Int("n", 50, "pods to create per phase")
	warmup := flag.Int("warmup", 5, "untimed creates per phase before measuring")
	ignoreLabel := flag.String("ignore-label", "kadmit.dev/ignore", "namespace label the webhooks' namespaceSelector skips")
	prefix := flag.String("namespace-prefix", "e2e-latency", "namespaces <prefix>-webhooks and <prefix>-none are used")
	flag.Parse()

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

	with := *prefix + "-webhooks"
	without := *prefix + "-none"
	ensureNamespace(ctx, cs, with, nil)
	ensureNamespace(ctx, cs, without, map[string]string{*ignoreLabel: "true"})

	// Alternate phases so that warm-up and background effects hit both sides.
	measure(ctx, cs, with, "warm", *warmup)
	measure(ctx, cs, without, "warm", *warmup)
	tWith := measure(ctx, cs, with, "w", *n)
	tWithout := measure(ctx, cs, without, "n", *n)

	mw, pw := percentile(tWith, 50), percentile(tWith, 99)
	mn, pn := percentile(tWithout, 50), percentile(tWithout, 99)
	fmt.Printf("pod CREATE latency over %d pods each (sequential):\n", *n)
	fmt.Printf("  with kadmit webhooks:    median %8s  p99 %8s\n", round(mw), round(pw))
	fmt.Printf("  without webhooks:        median %8s  p99 %8s\n", round(mn), round(pn))
	fmt.Printf("  added by kadmit:         median %8s  p99 %8s\n", round(mw-mn), round(pw-pn))

	for _, ns := range []string{with, without} {
		_ = cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	}
}

func ensureNamespace(ctx context.Context, cs *kubernetes.Clientset, name string, labels map[string]string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		if _, gerr := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); gerr != nil {
			fatal("namespace %s: %v", name, err)
		}
	}
}

func measure(ctx context.Context, cs *kubernetes.Clientset, ns, tag string, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		p := agentPod(fmt.Sprintf("lat-%s-%d-%d", tag, time.Now().UnixNano()%1000000, i))
		start := time.Now()
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		d := time.Since(start)
		if err != nil {
			fatal("create pod in %s: %v", ns, err)
		}
		out = append(out, d)
	}
	return out
}

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
