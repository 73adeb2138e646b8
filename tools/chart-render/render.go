package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

const maxIncludeDepth = 1000

// render executes every template not starting with "_" and returns its output by template name.
func render(c *chart, top map[string]interface{}) (map[string]string, error) {
	t := template.New("gotpl")
	t.Option("missingkey=zero") // as Helm (not --strict): a missing key renders "<no value>", removed below
	depth := map[string]int{}
	t.Funcs(funcMap(t, depth))

	names := make([]string, 0, len(c.Templates))
	for name := range c.Templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := t.New(name).Parse(c.Templates[name]); err != nil {
			return nil, err
		}
	}

	out := map[string]string{}
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		vals := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": path.Join(c.Metadata.Name, "templates")}
		var sb strings.Builder
		if err := t.ExecuteTemplate(&sb, name, vals); err != nil {
			return nil, cleanError(err)
		}
		out[name] = strings.ReplaceAll(sb.String(), "<no value>", "")
	}
	return out, nil
}

// funcMap is sprig's functions without env/expandenv, plus Helm's own.
func funcMap(t *template.Template, depth map[string]int) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := yaml.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["required"] = func(message string, v interface{}) (interface{}, error) {
		if s, ok := v.(string); v == nil || (ok && s == "") {
			return v, errors.New(message)
		}
		return v, nil
	}
	// No cluster to look in: lookup finds nothing, as in `helm template`.
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth[name] >= maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		depth[name]++
		defer func() { depth[name]-- }()
		var sb strings.Builder
		err := t.ExecuteTemplate(&sb, name, data)
		return sb.String(), err
	}
	f["tpl"] = func(text string, vals map[string]interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		name := "tpl"
		if tmpl, ok := vals["Template"].(map[string]interface{}); ok {
			if n, ok := tmpl["Name"].(string); ok {
				name = n
			}
		}
		if _, err := clone.New(name).Parse(text); err != nil {
			return "", err
		}
		var sb strings.Builder
		if err := clone.ExecuteTemplate(&sb, name, vals); err != nil {
			return "", err
		}
		return strings.ReplaceAll(sb.String(), "<no value>", ""), nil
	}
	return f
}

var (
	calling  = regexp.MustCompile(`error calling \w+: `)
	location = regexp.MustCompile(`template: ([^ ]+:\d+:\d+): executing`)
)

// cleanError turns text/template's nested "error calling fail: msg" into Helm's "execution error at (file:line:col):
// msg", naming the innermost template that failed.
func cleanError(err error) error {
	msg := err.Error()
	calls := calling.FindAllStringIndex(msg, -1)
	if len(calls) == 0 {
		return err
	}
	last := calls[len(calls)-1]
	where := location.FindAllStringSubmatch(msg[:last[0]], -1)
	if len(where) == 0 {
		return err
	}
	return fmt.Errorf("execution error at (%s): %s", where[len(where)-1][1], msg[last[1]:])
}
