// Command render renders a Helm 3 chart directory the way `helm template` does, and checks it
// the way `helm lint` does, without Helm (which Debian does not package). It is the chart's
// test tool (tests/integration/helm_chart_test.cc), built from Debian's Go libraries only:
// text/template, Sprig (the function library Helm uses), gopkg.in/yaml.v2 and gojsonschema
// (the JSON-schema validator Helm 3 uses for values.schema.json).
//
//	render [--lint] [--name NAME] [--namespace NS] [--upgrade] [--kube-version V]
//	       [--api-versions G/V]... [-f VALUES.yaml]... [--set K=V]... [--set-string K=V]...
//	       [--show-notes] CHART_DIR
//
// Like Helm: values.yaml, then each -f file, then --set, merged (maps deeply; null removes a
// key); the result is validated against values.schema.json (errors name the field); the
// templates/ files are parsed together (partials _*.tpl define, NOTES.txt is left out unless
// --show-notes) and executed with missingkey=zero, "<no value>" removed; each output document
// is printed after "---" and "# Source: <chart>/templates/<file>". Numbers read from YAML are
// float64, as in Helm (sigs.k8s.io/yaml); --set integers are int64.
//
// Functions: Sprig's TxtFuncMap without env and expandenv, and Helm's include, tpl, required,
// toYaml, fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, toToml (unsupported:
// fails), lookup (always an empty map, as in `helm template`). Objects: .Values, .Chart (the
// Chart.yaml fields, capitalised), .Release (Name, Namespace, Service, IsInstall, IsUpgrade,
// Revision), .Files (Get, GetBytes, Glob, Lines, AsConfig, AsSecrets), .Capabilities
// (APIVersions.Has, KubeVersion, HelmVersion), .Template (Name, BasePath).
//
// --lint also checks Chart.yaml (apiVersion v2, name, a SemVer version, kubeVersion against
// --kube-version), that every rendered document parses as YAML and has apiVersion, kind and
// metadata.name, and prints "lint: ok" (errors go to stderr, exit 1).
//
// Not covered, compared with real Helm: subcharts and dependencies, .helmignore (every file
// of the chart but Chart.yaml, values.yaml and values.schema.json is in .Files), the crds/
// directory, the install order of kinds and hooks' weights (hooks are rendered like any
// object, in template file order), a real cluster's lookup and Capabilities, post-renderers,
// --set's JSON and file forms and list indexes (a[0]=x), toToml.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	semver "github.com/Masterminds/semver" // v3 (Debian golang-github-masterminds-semver-dev)
	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	yaml "gopkg.in/yaml.v2"
)

// ---- values -------------------------------------------------------------------------------

// normalize turns yaml.v2's map[interface{}]interface{} into map[string]interface{} and
// integers into float64, which is what Helm's sigs.k8s.io/yaml (YAML -> JSON) gives.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			m[fmt.Sprint(k)] = normalize(val)
		}
		return m
	case map[string]interface{}:
		for k, val := range t {
			t[k] = normalize(val)
		}
		return t
	case []interface{}:
		for i := range t {
			t[i] = normalize(t[i])
		}
		return t
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	}
	return v
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := normalize(raw).(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: not a YAML map", file)
	}
	return m, nil
}

// mergeValues merges src over dst like Helm's coalescing of user values over defaults: maps
// deeply, anything else replaced, and a null in src deletes the key.
func mergeValues(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = mergeValues(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// parseSet applies one --set argument ("a.b=1,c={x,y}") to values, typed as Helm's strvals
// does (int64, bool, null; everything else a string) unless asString.
func parseSet(values map[string]interface{}, arg string, asString bool) error {
	for _, pair := range splitUnescaped(arg, ',', true) {
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 {
			return fmt.Errorf("--set %q: key=value expected", pair)
		}
		key, raw := pair[:eq], pair[eq+1:]
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			list := []interface{}{}
			if inner := raw[1 : len(raw)-1]; inner != "" {
				for _, item := range splitUnescaped(inner, ',', false) {
					list = append(list, typed(item, asString))
				}
			}
			value = list
		} else {
			value = typed(unescape(raw), asString)
		}
		parts := splitUnescaped(key, '.', false)
		m := values
		for i, p := range parts {
			p = unescape(p)
			if i == len(parts)-1 {
				if value == nil {
					delete(m, p)
				} else {
					m[p] = value
				}
				break
			}
			next, ok := m[p].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				m[p] = next
			}
			m = next
		}
	}
	return nil
}

// splitUnescaped splits s at sep, not at "\sep"; with braces, not inside {...} either.
func splitUnescaped(s string, sep byte, braces bool) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case braces && s[i] == '{':
			depth++
		case braces && s[i] == '}':
			depth--
		case s[i] == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func typed(s string, asString bool) interface{} {
	if asString {
		return s
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	// strvals: a leading zero keeps it a string ("0123"), "0" is an integer.
	if s == "0" || (len(s) > 0 && s[0] != '0' && s[0] != '+') {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}

// validateSchema checks values against values.schema.json (draft-07, gojsonschema, as Helm
// 3 does) and returns one line per error, "- field: description".
func validateSchema(schemaFile string, values map[string]interface{}) error {
	schema, err := ioutil.ReadFile(schemaFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewGoLoader(values))
	if err != nil {
		return fmt.Errorf("values.schema.json: %v", err)
	}
	if result.Valid() {
		return nil
	}
	var b strings.Builder
	b.WriteString("values don't meet the specifications of the schema(s) in the following chart(s):\n")
	for _, e := range result.Errors() {
		fmt.Fprintf(&b, "- %s\n", e.String())
	}
	return errors.New(strings.TrimSuffix(b.String(), "\n"))
}

// ---- .Files and .Capabilities ---------------------------------------------------------------

// Files are the chart's files other than templates/, Chart.yaml, values.yaml and
// values.schema.json (Helm's chart.Files), by slash path relative to the chart.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

// Glob returns the files whose path matches pattern (path.Match, plus "**" for any depth).
func (f Files) Glob(pattern string) Files {
	out := Files{}
	re := globRegexp(pattern)
	for name, data := range f {
		if re.MatchString(name) {
			out[name] = data
		}
	}
	return out
}

func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// AsConfig is the files as ConfigMap data (base name -> text), in YAML.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

// AsSecrets is the files as Secret data (base name -> base64), in YAML.
func (f Files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	return toYAML(m)
}

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type KubeVersion struct {
	Version, Major, Minor string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

type Capabilities struct {
	APIVersions VersionSet
	KubeVersion KubeVersion
	HelmVersion map[string]string
}

// The API versions `helm template` assumes without a cluster: Kubernetes' built-in groups.
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1",
	"apiextensions.k8s.io/v1", "admissionregistration.k8s.io/v1", "scheduling.k8s.io/v1",
	"coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1", "node.k8s.io/v1",
	"certificates.k8s.io/v1", "apiregistration.k8s.io/v1",
}

// ---- functions --------------------------------------------------------------------------------

// toYAML is Helm's toYaml: sigs.k8s.io/yaml.Marshal (through JSON, keys sorted), without the
// final newline; "" when it cannot be marshalled.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return ""
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func funcMap(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	includedNames := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		defer func() { includedNames[name]-- }()
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Option("missingkey=zero").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error calling tpl: %v", err)
		}
		return strings.Replace(buf.String(), "<no value>", "", -1), nil
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["toYaml"] = toYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		var raw interface{}
		if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		if m, ok := normalize(raw).(map[string]interface{}); ok {
			return m
		}
		return map[string]interface{}{}
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		var raw interface{}
		if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
			return []interface{}{err.Error()}
		}
		if a, ok := normalize(raw).([]interface{}); ok {
			return a
		}
		return []interface{}{}
	}
	f["toJson"] = func(v interface{}) string {
		out, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(out)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		a := []interface{}{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["toToml"] = func(interface{}) (string, error) {
		return "", errors.New("toToml is not supported by tests/helm/render")
	}
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return f
}

// ---- the chart ----------------------------------------------------------------------------

type options struct {
	lint, upgrade, showNotes bool
	name, namespace          string
	kubeVersion              string
	apiVersions              []string
	valueFiles               []string
	sets, setStrings         []string
	chartDir                 string
}

func parseArgs(args []string) (options, error) {
	o := options{name: "release-name", namespace: "default", kubeVersion: "v1.26.0"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if eq := strings.IndexByte(a, '='); eq > 0 && strings.HasPrefix(a, "--") {
				return a[eq+1:], nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		flag := a
		if eq := strings.IndexByte(a, '='); eq > 0 && strings.HasPrefix(a, "--") {
			flag = a[:eq]
		}
		var err error
		var v string
		switch flag {
		case "--lint":
			o.lint = true
		case "--upgrade":
			o.upgrade = true
		case "--show-notes":
			o.showNotes = true
		case "--name":
			v, err = next()
			o.name = v
		case "--namespace", "-n":
			v, err = next()
			o.namespace = v
		case "--kube-version":
			v, err = next()
			o.kubeVersion = v
		case "--api-versions", "-a":
			v, err = next()
			o.apiVersions = append(o.apiVersions, v)
		case "-f", "--values":
			v, err = next()
			o.valueFiles = append(o.valueFiles, v)
		case "--set":
			v, err = next()
			o.sets = append(o.sets, v)
		case "--set-string":
			v, err = next()
			o.setStrings = append(o.setStrings, v)
		default:
			if strings.HasPrefix(a, "-") || o.chartDir != "" {
				return o, fmt.Errorf("unknown argument %q", a)
			}
			o.chartDir = a
		}
		if err != nil {
			return o, err
		}
	}
	if o.chartDir == "" {
		return o, errors.New("usage: render [--lint] [--name N] [--namespace NS] [-f values]... [--set k=v]... CHART_DIR")
	}
	return o, nil
}

var chartFields = map[string]string{
	"apiVersion": "APIVersion", "name": "Name", "version": "Version", "kubeVersion": "KubeVersion",
	"description": "Description", "type": "Type", "keywords": "Keywords", "home": "Home",
	"sources": "Sources", "dependencies": "Dependencies", "maintainers": "Maintainers",
	"icon": "Icon", "appVersion": "AppVersion", "deprecated": "Deprecated",
	"annotations": "Annotations",
}

// loadChart reads Chart.yaml into .Chart's fields and checks what helm lint checks of it.
func loadChart(dir string, kubeVersion string) (map[string]interface{}, error) {
	raw, err := readYAMLMap(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	chart := map[string]interface{}{}
	for k, v := range raw {
		field, ok := chartFields[k]
		if !ok {
			return nil, fmt.Errorf("Chart.yaml: unknown field %q", k)
		}
		chart[field] = v
	}
	str := func(field string) string { s, _ := chart[field].(string); return s }
	if str("APIVersion") != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2 (Helm 3), not %q", str("APIVersion"))
	}
	if str("Name") == "" {
		return nil, errors.New("Chart.yaml: name is required")
	}
	if filepath.Base(filepath.Clean(dir)) != str("Name") {
		return nil, fmt.Errorf("Chart.yaml: name %q is not the chart directory's name %q", str("Name"), filepath.Base(dir))
	}
	if _, err := semver.StrictNewVersion(str("Version")); err != nil {
		return nil, fmt.Errorf("Chart.yaml: version %q is not SemVer 2: %v", chart["Version"], err)
	}
	if t := str("Type"); t != "" && t != "application" && t != "library" {
		return nil, fmt.Errorf("Chart.yaml: type %q is neither application nor library", t)
	}
	if kv := str("KubeVersion"); kv != "" {
		c, err := semver.NewConstraint(kv)
		if err != nil {
			return nil, fmt.Errorf("Chart.yaml: kubeVersion %q: %v", kv, err)
		}
		v, err := semver.NewVersion(kubeVersion)
		if err != nil {
			return nil, fmt.Errorf("--kube-version %q: %v", kubeVersion, err)
		}
		if !c.Check(v) {
			return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", kv, kubeVersion)
		}
	}
	for _, f := range []string{"AppVersion", "Version"} {
		if n, ok := chart[f].(float64); ok { // appVersion: 1.0 written unquoted
			chart[f] = strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return chart, nil
}

// chartFiles returns .Files and the templates (slash paths relative to the chart).
func chartFiles(dir string) (Files, []string, error) {
	files := Files{}
	var templates []string
	skip := map[string]bool{"Chart.yaml": true, "values.yaml": true, "values.schema.json": true,
		"Chart.lock": true, ".helmignore": true}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "charts" || rel == "crds" {
				return fmt.Errorf("%s/: subcharts and crds/ are not supported by tests/helm/render", rel)
			}
			return nil
		}
		if strings.HasPrefix(rel, "templates/") {
			templates = append(templates, rel)
			return nil
		}
		if skip[rel] {
			return nil
		}
		data, err := ioutil.ReadFile(p)
		if err != nil {
			return err
		}
		files[rel] = data
		return nil
	})
	sort.Strings(templates)
	return files, templates, err
}

// A rendered document: the template it came from and its text.
type document struct {
	source, text string
}

// splitDocuments cuts a rendered file into YAML documents at "---" lines, dropping empty ones.
func splitDocuments(source, text string) []document {
	var out []document
	re := regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)
	for _, part := range re.Split(text, -1) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		out = append(out, document{source: source, text: strings.Trim(part, "\n")})
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func run(o options) ([]document, string, error) {
	dir := filepath.Clean(o.chartDir)
	chart, err := loadChart(dir, o.kubeVersion)
	if err != nil {
		return nil, "", err
	}
	values, err := readYAMLMap(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return nil, "", err
	}
	for _, file := range o.valueFiles {
		user, err := readYAMLMap(file)
		if err != nil {
			return nil, "", err
		}
		values = mergeValues(values, user)
	}
	user := map[string]interface{}{}
	for _, s := range o.sets {
		if err := parseSet(user, s, false); err != nil {
			return nil, "", err
		}
	}
	for _, s := range o.setStrings {
		if err := parseSet(user, s, true); err != nil {
			return nil, "", err
		}
	}
	values = mergeValues(values, user)
	if err := validateSchema(filepath.Join(dir, "values.schema.json"), values); err != nil {
		return nil, "", err
	}

	files, templates, err := chartFiles(dir)
	if err != nil {
		return nil, "", err
	}
	name := chart["Name"].(string)
	root := template.New("gotpl").Option("missingkey=zero")
	root.Funcs(funcMap(root))
	for _, t := range templates {
		data, err := ioutil.ReadFile(filepath.Join(dir, filepath.FromSlash(t)))
		if err != nil {
			return nil, "", err
		}
		if _, err := root.New(name + "/" + t).Parse(string(data)); err != nil {
			return nil, "", fmt.Errorf("parse error: %v", err)
		}
	}
	capabilities := Capabilities{
		APIVersions: append(VersionSet(append([]string{}, defaultAPIVersions...)), o.apiVersions...),
		KubeVersion: KubeVersion{Version: o.kubeVersion},
		HelmVersion: map[string]string{"Version": "v3 (tests/helm/render)"},
	}
	if v, err := semver.NewVersion(o.kubeVersion); err == nil {
		capabilities.KubeVersion.Major = strconv.FormatUint(v.Major(), 10)
		capabilities.KubeVersion.Minor = strconv.FormatUint(v.Minor(), 10)
	}
	release := map[string]interface{}{
		"Name": o.name, "Namespace": o.namespace, "Service": "Helm",
		"IsInstall": !o.upgrade, "IsUpgrade": o.upgrade, "Revision": 1,
	}
	var docs []document
	notes := ""
	for _, t := range templates {
		base := path.Base(t)
		if strings.HasPrefix(base, "_") {
			continue
		}
		isNotes := base == "NOTES.txt"
		if isNotes && !o.showNotes {
			continue
		}
		top := map[string]interface{}{
			"Values": values, "Chart": chart, "Release": release, "Files": files,
			"Capabilities": capabilities,
			"Template":     map[string]interface{}{"Name": name + "/" + t, "BasePath": name + "/templates"},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name+"/"+t, top); err != nil {
			return nil, "", fmt.Errorf("%v", err)
		}
		out := strings.Replace(buf.String(), "<no value>", "", -1)
		if isNotes {
			notes = out
			continue
		}
		docs = append(docs, splitDocuments(name+"/"+t, out)...)
	}
	return docs, notes, nil
}

// lintDocuments checks what every object Kubernetes accepts needs.
func lintDocuments(docs []document) []string {
	var problems []string
	for _, d := range docs {
		var obj map[string]interface{}
		var raw interface{}
		if err := yaml.UnmarshalStrict([]byte(d.text), &raw); err != nil {
			problems = append(problems, fmt.Sprintf("%s: unable to parse YAML: %v", d.source, err))
			continue
		}
		obj, _ = normalize(raw).(map[string]interface{})
		if obj == nil {
			problems = append(problems, fmt.Sprintf("%s: a document that is not an object", d.source))
			continue
		}
		for _, k := range []string{"apiVersion", "kind"} {
			if s, _ := obj[k].(string); s == "" {
				problems = append(problems, fmt.Sprintf("%s: object has no %s", d.source, k))
			}
		}
		meta, _ := obj["metadata"].(map[string]interface{})
		if s, _ := meta["name"].(string); s == "" {
			problems = append(problems, fmt.Sprintf("%s: %v has no metadata.name", d.source, obj["kind"]))
		}
	}
	return problems
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(2)
	}
	docs, notes, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	if o.lint {
		if problems := lintDocuments(docs); len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, "[ERROR]", p)
			}
			os.Exit(1)
		}
		fmt.Printf("lint: ok (%d objects)\n", len(docs))
		return
	}
	for _, d := range docs {
		fmt.Printf("---\n# Source: %s\n%s\n", d.source, d.text)
	}
	if o.showNotes {
		fmt.Printf("NOTES:\n%s\n", notes)
	}
}
