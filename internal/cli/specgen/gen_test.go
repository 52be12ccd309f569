package main

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/graft-ml/graft/api"
)

const root = "../../.."

func generated(t *testing.T) map[string][]byte {
	t.Helper()
	outs, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, o := range outs {
		m[o.Path] = o.Text
	}
	return m
}

// TestMirrorsCurrent: the committed mirrors are what the Go types say.
func TestMirrorsCurrent(t *testing.T) {
	t.Parallel()
	for path, want := range generated(t) {
		got, err := os.ReadFile(root + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what api.JobRequest says: run make generate (go generate ./internal/cli/specgen) and commit it", path)
		}
	}
}

// requestNames are api.JobRequest's JSON names as encoding/json writes
// them: the oracle the generated mirrors are checked against.
func requestNames(t *testing.T) []string {
	t.Helper()
	b, err := json.Marshal(api.JobRequest{JobSpec: everySet(t), Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// everySet is a JobSpec whose every field is set to a non-zero value, so
// that omitempty drops none: the JSON of it names every field.
func everySet(t *testing.T) api.JobSpec {
	t.Helper()
	var s api.JobSpec
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[api.Device]():
			f.Set(reflect.ValueOf(api.MustDevice("cpu")))
		case f.Kind() == reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case f.Kind() == reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case f.Kind() == reflect.String:
			f.SetString("x")
		case f.CanInt():
			f.SetInt(1)
		default:
			t.Fatalf("api.JobSpec.%s: kind %v: teach everySet a value of it", v.Type().Field(i).Name, f.Kind())
		}
	}
	return s
}

// TestOpenAPIRegion: the generated JobRequest schema, read back as YAML,
// has a property for every JSON name of api.JobRequest and no other, the
// spec's required fields, and the enums of api's named types.
func TestOpenAPIRegion(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string                  `json:"required"`
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := yaml.Unmarshal(generated(t)[OpenAPIPath], &doc); err != nil {
		t.Fatalf("the generated %s is not YAML: %v", OpenAPIPath, err)
	}
	req := doc.Components.Schemas["JobRequest"]
	var got []string
	for n := range req.Properties {
		got = append(got, n)
	}
	sort.Strings(got)
	if want := requestNames(t); !slices.Equal(got, want) {
		t.Errorf("JobRequest properties %v, api.JobRequest's JSON names %v", got, want)
	}
	if want := []string{"backbone", "tap", "data"}; !slices.Equal(req.Required, want) {
		t.Errorf("required %v, want %v", req.Required, want)
	}
	for name, want := range map[string]string{"optimizer": "string", "epochs": "integer", "lr": "number", "tags": "array", "device": "string", "sweep": "object", "seed": "integer"} {
		if typ := req.Properties[name]["type"]; typ != want {
			t.Errorf("%s: type %v, want %q", name, typ, want)
		}
	}
	enum, _ := req.Properties["optimizer"]["enum"].([]any)
	if want := []any{string(api.Adam), string(api.AdamW), string(api.SGD)}; !slices.Equal(enum, want) {
		t.Errorf("optimizer enum %v, want api's optimizers %v", enum, want)
	}
	sweep := req.Properties["sweep"]
	if r, _ := sweep["required"].([]any); len(r) != 1 || r[0] != "space" {
		t.Errorf("sweep required %v, want [space]", sweep["required"])
	}
}

// TestPythonRegion: the generated dataclass has a field for every JSON
// name of api.JobRequest, the required ones without a default and first.
func TestPythonRegion(t *testing.T) {
	t.Parallel()
	py := generated(t)[PythonPath]
	cls := regexp.MustCompile(`(?s)\nclass JobRequest:\n(.*?)\n\n\s*def `).FindSubmatch(py)
	if cls == nil {
		t.Fatalf("%s: no class JobRequest", PythonPath)
	}
	var names, required []string
	optional := false
	for _, m := range regexp.MustCompile(`(?m)^    (\w+): ([^=\n]+)( = None)?$`).FindAllSubmatch(cls[1], -1) {
		names = append(names, string(m[1]))
		if len(m[3]) == 0 {
			required = append(required, string(m[1]))
			if optional {
				t.Errorf("%s: a field without a default after one with: Python refuses the class", m[1])
			}
		} else {
			optional = true
		}
	}
	sort.Strings(names)
	if want := requestNames(t); !slices.Equal(names, want) {
		t.Errorf("JobRequest fields %v, api.JobRequest's JSON names %v", names, want)
	}
	if want := []string{"backbone", "tap", "data"}; !slices.Equal(required, want) {
		t.Errorf("required fields %v, want %v", required, want)
	}
	if !strings.Contains(string(cls[1]), "    tags: Optional[List[str]] = None\n") {
		t.Errorf("tags is not Optional[List[str]]:\n%s", cls[1])
	}
}

// TestSplice: only the lines between the markers change; a file without
// them is an error that says how to mend it.
func TestSplice(t *testing.T) {
	t.Parallel()
	old := "a:\n  " + beginMark + "\n  stale\n  " + endMark + "\nb\n"
	got, err := splice("f", []byte(old), func(indent string) []byte { return []byte(indent + "new\n") })
	if err != nil {
		t.Fatal(err)
	}
	if want := "a:\n  " + beginMark + "\n  new\n  " + endMark + "\nb\n"; string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"a\n", "  " + beginMark + "\nx\n", "  " + endMark + "\n  " + beginMark + "\n"} {
		if _, err := splice("f", []byte(bad), nil); err == nil || !strings.Contains(err.Error(), "put back") {
			t.Errorf("%q: err %v, want one that says to put the markers back", bad, err)
		}
	}
}

// TestTagErrors: a mistyped openapi tag is refused, naming what is allowed.
func TestTagErrors(t *testing.T) {
	t.Parallel()
	for _, tag := range []string{"minimun=2", "minimum=two", "maximum="} {
		if err := new(schema).tag(tag); err == nil {
			t.Errorf("%q: accepted", tag)
		}
	}
	var s schema
	if err := s.tag("minimum=0;maximum=1;exclusiveMaximum;enum=a,b;required"); err != nil {
		t.Fatal(err)
	}
	if s.minimum != "0" || s.maximum != "1" || !s.exclMaximum || !slices.Equal(s.enum, []string{"a", "b"}) || !s.required {
		t.Errorf("%+v", s)
	}
}
