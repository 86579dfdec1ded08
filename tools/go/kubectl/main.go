// Command kubectl is kubectl's own main (k8s.io/kubectl's cmd and the client auth plugins), as
// k8s.io/kubernetes/cmd/kubectl has it: k8s.io/kubectl has no main package of its own, and
// k8s.io/kubernetes cannot be required as a module. lib/tools.ts builds it (`deno task tools`);
// go.mod pins k8s.io/kubectl at the release of the kubectl pin (v0.N.M for Kubernetes 1.N.M).
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Client auth plugins, as in kubectl's own main.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
