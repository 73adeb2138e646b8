package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// installOrder is the order Helm installs kinds in (unknown kinds last).
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
	"ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "DaemonSet",
	"Pod", "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
	"CronJob", "IngressClass", "Ingress", "APIService",
}

var separator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

type document struct {
	source, text, kind string
	hook               bool
	order              int
}

type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

// assemble splits every template's output into documents, checks each is YAML with apiVersion, kind and name, and
// prints them as `helm template` does.
func assemble(rendered map[string]string, noHooks bool) (string, error) {
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)

	var docs []document
	for _, name := range names {
		for _, text := range separator.Split(rendered[name], -1) {
			text = strings.TrimSpace(text)
			if text == "" {
				continue
			}
			// Strict: a duplicate key is an error here, as it is for the API server.
			var whole map[string]interface{}
			if err := yaml.UnmarshalStrict([]byte(text), &whole); err != nil {
				return "", fmt.Errorf("YAML parse error on %s: %w\n%s", name, err, text)
			}
			if len(whole) == 0 {
				continue // only comments
			}
			var h head
			if err := yaml.Unmarshal([]byte(text), &h); err != nil {
				return "", fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			if h.APIVersion == "" || h.Kind == "" || h.Metadata.Name == "" {
				return "", fmt.Errorf("%s: a document without apiVersion, kind or metadata.name:\n%s", name, text)
			}
			_, hook := h.Metadata.Annotations["helm.sh/hook"]
			docs = append(docs, document{source: name, text: text, kind: h.Kind, hook: hook, order: kindOrder(h.Kind)})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool {
		if docs[i].hook != docs[j].hook {
			return !docs[i].hook
		}
		if docs[i].order != docs[j].order {
			return docs[i].order < docs[j].order
		}
		if docs[i].order == len(installOrder) {
			return docs[i].kind < docs[j].kind
		}
		return false
	})

	var sb strings.Builder
	for _, d := range docs {
		if d.hook && noHooks {
			continue
		}
		fmt.Fprintf(&sb, "---\n# Source: %s\n%s\n", d.source, d.text)
	}
	return sb.String(), nil
}

func kindOrder(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}
