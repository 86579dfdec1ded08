// Command psa evaluates pod specs with the upstream Pod Security Admission policy code
// (k8s.io/pod-security-admission/policy), the same checks the kube-apiserver's PodSecurity
// admission plugin runs. `deno task check` uses it; it never re-implements the policy.
//
// Input (stdin): a JSON list of {"id", "level", "version", "metadata", "spec"}, where metadata is
// an ObjectMeta and spec a PodSpec (a Pod's, or a workload's pod template's).
// Output (stdout): a JSON list of {"id", "allowed", "forbidden": [{"reason", "detail"}], "message"}
// in the input's order; message is the admission plugin's wording of the violation.
//
// `psa --version` prints the pinned version (set with -ldflags "-X main.version=…").
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

var version = "unknown"

type request struct {
	ID       string            `json:"id"`
	Level    string            `json:"level"`
	Version  string            `json:"version"`
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     corev1.PodSpec    `json:"spec"`
}

type forbidden struct {
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type verdict struct {
	ID        string      `json:"id"`
	Allowed   bool        `json:"allowed"`
	Forbidden []forbidden `json:"forbidden"`
	Message   string      `json:"message,omitempty"`
}

func evaluate(evaluator policy.Evaluator, r request) (verdict, error) {
	level, err := api.ParseLevel(r.Level)
	if err != nil {
		return verdict{}, fmt.Errorf("%s: level %q %v", r.ID, r.Level, err)
	}
	v := r.Version
	if v == "" {
		v = "latest"
	}
	ver, err := api.ParseVersion(v)
	if err != nil {
		return verdict{}, fmt.Errorf("%s: version %q %v", r.ID, r.Version, err)
	}
	lv := api.LevelVersion{Level: level, Version: ver}
	agg := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, &r.Metadata, &r.Spec))
	out := verdict{ID: r.ID, Allowed: agg.Allowed, Forbidden: []forbidden{}}
	for i, reason := range agg.ForbiddenReasons {
		out.Forbidden = append(out.Forbidden, forbidden{Reason: reason, Detail: agg.ForbiddenDetails[i]})
	}
	if !agg.Allowed {
		out.Message = fmt.Sprintf("violates PodSecurity %q: %s", lv.String(), agg.ForbiddenDetail())
	}
	return out, nil
}

func run(in io.Reader, out io.Writer) error {
	var requests []request
	if err := json.NewDecoder(in).Decode(&requests); err != nil {
		return fmt.Errorf("reading the pod list from standard input: %v", err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return err
	}
	verdicts := make([]verdict, 0, len(requests))
	for _, r := range requests {
		v, err := evaluate(evaluator, r)
		if err != nil {
			return err
		}
		verdicts = append(verdicts, v)
	}
	return json.NewEncoder(out).Encode(verdicts)
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "--version", "version":
			fmt.Printf("psa %s\n", version)
			return
		default:
			fmt.Fprintf(os.Stderr, "usage: psa [--version] < pods.json\n")
			os.Exit(2)
		}
	}
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "psa: %v\n", err)
		os.Exit(1)
	}
}
