// Command kube is every Kubernetes binary both e2e tiers need, linked once: kube-apiserver,
// kube-controller-manager and kube-scheduler (the local control plane), plus kubelet, kube-proxy,
// kubeadm and kubectl (the kind node image). The component is chosen by the first argument or by
// the name it is invoked as, so symlinks or copies named after the components work (kind's node
// image holds copies named kubeadm, kubelet and kubectl). Each entry is the same code as
// k8s.io/kubernetes/cmd/<component>/main.go; one binary shares the compile work and the disk.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // for CronJob time zone support

	"github.com/spf13/cobra"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's exec/OIDC credential plugins
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app"
	kubeadmerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          func() *cobra.Command { return apiserver.NewAPIServerCommand() },
	"kube-controller-manager": func() *cobra.Command { return controllermanager.NewControllerManagerCommand() },
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-proxy":              func() *cobra.Command { return proxy.NewProxyCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if !known(name) {
		if len(args) == 0 || !known(args[0]) {
			usage()
		}
		name, args = args[0], args[1:]
	}
	// kubeadm and kubectl read os.Args themselves (kubeadm's flag set, kubectl's plugin lookup).
	os.Args = append([]string{name}, args...)
	switch name {
	case "kubeadm":
		kubeadmerrors.HandleError(kubeadm.Run())
		os.Exit(0)
	case "kubectl":
		logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck // as kubectl's main
		if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		os.Exit(0)
	}
	command := commands[name]()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}

func known(name string) bool {
	_, ok := commands[name]
	return ok || name == "kubeadm" || name == "kubectl"
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kube {kube-apiserver|kube-controller-manager|kube-scheduler|"+
		"kube-proxy|kubelet|kubeadm|kubectl} [flags]")
	os.Exit(2)
}
