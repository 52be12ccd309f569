package main

import (
	"encoding/json"
	"log"
	"os"
	"os/exec"
)

// mustModuleDir downloads a Go module (outside graft's go.mod) and returns
// its directory in the module cache.
func mustModuleDir(mod string) string {
	tmp, err := os.MkdirTemp("", "gen")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = tmp
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("go mod download %s: %v", mod, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil {
		log.Fatal(err)
	}
	return info.Dir
}
