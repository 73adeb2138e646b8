package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// mergedValues is what `helm template -f a.yaml -f b.yaml` gives the templates: the user's files merged (later wins,
// tables merged key by key), then laid over the chart's values.yaml. A user's null removes the chart's default.
func mergedValues(c *chart, files []string) (map[string]interface{}, error) {
	user := map[string]interface{}{}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		v, err := readValues(raw, name)
		if err != nil {
			return nil, err
		}
		user = mergeMaps(user, v)
	}
	return coalesce(user, c.Values, ""), nil
}

func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vt, ok := v.(map[string]interface{}); ok {
			if at, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(at, vt)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays the user's values (dst) over the defaults (src), as Helm's coalescing does.
func coalesce(dst, src map[string]interface{}, prefix string) map[string]interface{} {
	for key, def := range src {
		user, present := dst[key]
		switch {
		case present && user == nil:
			delete(dst, key)
		case !present:
			dst[key] = copyValue(def)
		default:
			userTable, userIsTable := user.(map[string]interface{})
			defTable, defIsTable := def.(map[string]interface{})
			if userIsTable && defIsTable {
				coalesce(userTable, defTable, prefix+key+".")
			} else if defIsTable != userIsTable && def != nil {
				fmt.Fprintf(os.Stderr, "warning: %s%s: a table and a non-table; the user's value wins\n", prefix, key)
			}
		}
	}
	return dst
}

func copyValue(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			out[k] = copyValue(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			out[i] = copyValue(x)
		}
		return out
	default:
		return v
	}
}

// validateValues checks the merged values against values.schema.json with the library and the message form of Helm 3.
func validateValues(c *chart, values map[string]interface{}) error {
	if c.Schema == nil {
		return nil
	}
	asYaml, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	asJSON, err := yaml.YAMLToJSON(asYaml)
	if err != nil {
		return err
	}
	if bytes.Equal(asJSON, []byte("null")) {
		asJSON = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(c.Schema), gojsonschema.NewBytesLoader(asJSON))
	if err != nil {
		return fmt.Errorf("values.schema.json: %w", err)
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("values don't meet the specifications of the schema(s) in the following chart(s):\n")
	sb.WriteString(c.Metadata.Name + ":\n")
	for _, e := range result.Errors() {
		sb.WriteString(fmt.Sprintf("- %s\n", e))
	}
	return errors.New(strings.TrimSuffix(sb.String(), "\n"))
}
