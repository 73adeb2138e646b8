// chart-render renders a Helm chart the way `helm template` does, for the chart tests and for regenerating
// deploy/kubernetes/spegel.yaml. Our machines have no helm binary (Debian does not package it), so this is our own
// small renderer on the same building blocks Helm 3 uses, all from Debian's Go packages (built in GOPATH mode, no
// module downloads): Go's text/template, sprig's function library, sigs.k8s.io/yaml for values and toYaml, and
// gojsonschema to check the merged values against values.schema.json.
//
// Usage: chart-render -chart DIR [-release NAME] [-namespace NS] [-f values.yaml]... [-api-versions G/V]...
//
//	[-kube-version v1.33.0] [-release-service Helm] [-no-hooks]
//
// Output: every rendered document as `---\n# Source: <template>\n<document>`, manifests in Helm's install order, then
// the hooks (unless -no-hooks). Errors (bad values, schema violations, template errors, `fail`, documents that are not
// YAML) go to stderr with exit code 1.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func main() {
	var valueFiles, apiVersions listFlag
	chartDir := flag.String("chart", "", "the chart's folder (required)")
	release := flag.String("release", "spegel", "release name (.Release.Name)")
	namespace := flag.String("namespace", "default", "release namespace (.Release.Namespace)")
	kubeVersion := flag.String("kube-version", "v1.33.0", "Kubernetes version (.Capabilities.KubeVersion)")
	service := flag.String("release-service", "Helm", ".Release.Service")
	noHooks := flag.Bool("no-hooks", false, "leave out documents annotated helm.sh/hook")
	isUpgrade := flag.Bool("is-upgrade", false, ".Release.IsUpgrade (and not .Release.IsInstall)")
	flag.Var(&valueFiles, "f", "a values file merged over the chart's values.yaml, later files win (repeatable)")
	flag.Var(&apiVersions, "api-versions", "extra API versions for .Capabilities.APIVersions.Has (repeatable, comma-separated)")
	flag.Parse()
	if *chartDir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: chart-render -chart DIR [-release NAME] [-namespace NS] [-f values.yaml]... [-api-versions G/V]... [-no-hooks]")
		os.Exit(2)
	}

	out, err := run(options{
		chartDir: *chartDir, release: *release, namespace: *namespace, kubeVersion: *kubeVersion,
		service: *service, noHooks: *noHooks, isUpgrade: *isUpgrade, valueFiles: valueFiles, apiVersions: apiVersions,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error: "+err.Error())
		os.Exit(1)
	}
	fmt.Print(out)
}

type options struct {
	chartDir, release, namespace, kubeVersion, service string
	noHooks, isUpgrade                                 bool
	valueFiles, apiVersions                            []string
}

func run(o options) (string, error) {
	c, err := loadChart(o.chartDir)
	if err != nil {
		return "", err
	}
	values, err := mergedValues(c, o.valueFiles)
	if err != nil {
		return "", err
	}
	if err := validateValues(c, values); err != nil {
		return "", err
	}
	caps, err := newCapabilities(o.kubeVersion, o.apiVersions)
	if err != nil {
		return "", err
	}
	top := map[string]interface{}{
		"Values":       values,
		"Chart":        c.Metadata,
		"Capabilities": caps,
		"Files":        c.Files,
		"Release": map[string]interface{}{
			"Name":      o.release,
			"Namespace": o.namespace,
			"IsUpgrade": o.isUpgrade,
			"IsInstall": !o.isUpgrade,
			"Revision":  1,
			"Service":   o.service,
		},
	}
	rendered, err := render(c, top)
	if err != nil {
		return "", err
	}
	return assemble(rendered, o.noHooks)
}
