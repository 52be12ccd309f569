package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseDevice(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Device // zero: an error
	}{
		{"cpu", Device{Kind: CPU}},
		{"auto", Device{Kind: Auto}},
		{"cuda", Device{Kind: CUDA}},
		{"cuda:0", Device{Kind: CUDA}},
		{"cuda:3", Device{Kind: CUDA, Index: 3}},
		{"cuda0", Device{}},
		{"0", Device{}},
		{"cuda:-1", Device{}},
		{"cuda:01", Device{}},
		{"cuda:", Device{}},
		{"CPU", Device{}},
		{"tpu", Device{}},
	} {
		got, err := ParseDevice(c.in)
		var fe FieldErrors
		switch {
		case c.want.IsZero() && (err == nil || !errors.As(err, &fe) || fe[0].Field != "device"):
			t.Errorf("%q: %v, %v: want a device field error", c.in, got, err)
		case !c.want.IsZero() && (err != nil || got != c.want):
			t.Errorf("%q: %v, %v: want %v", c.in, got, err, c.want)
		}
	}
}

// TestDeviceRecords: documents written before the device was typed (the
// strings below, as graft wrote them) read back typed, and write back as
// the same strings but "cuda", which becomes its canonical "cuda:0"; a
// bad device in a document is a device field error.
func TestDeviceRecords(t *testing.T) {
	for _, c := range []struct{ old, want, again string }{
		{`{"version":1,"backbone":"/m","device":"cpu","out":"/r"}`, "cpu", `"device":"cpu"`},
		{`{"backbone":"/m","device":"cuda:1","out":"/r"}`, "cuda:1", `"device":"cuda:1"`},
		{`{"backbone":"/m","device":"cuda","out":"/r"}`, "cuda:0", `"device":"cuda:0"`},
		{`{"backbone":"/m","device":"auto","out":"/r"}`, "auto", `"device":"auto"`},
	} {
		var r RunSpec
		if err := json.Unmarshal([]byte(c.old), &r); err != nil {
			t.Fatalf("%s: %v", c.old, err)
		}
		if r.Device.String() != c.want {
			t.Errorf("%s: device %v, want %s", c.old, r.Device, c.want)
		}
		b, _ := json.Marshal(r)
		if !json.Valid(b) || !strings.Contains(string(b), c.again) {
			t.Errorf("%s: wrote %s, want %s in it", c.old, b, c.again)
		}
	}
	// Unset in a spec: absent when written, zero when read.
	b, _ := json.Marshal(JobSpec{Backbone: "/m"})
	if strings.Contains(string(b), "device") {
		t.Errorf("an unset device was written: %s", b)
	}
	var s JobSpec
	err := json.Unmarshal([]byte(`{"device":"gpu"}`), &s)
	var fe FieldErrors
	if !errors.As(err, &fe) || fe[0].Field != "device" {
		t.Errorf("device gpu: %v, want a device field error", err)
	}
}
