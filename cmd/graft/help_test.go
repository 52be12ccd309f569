package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// Every flag's help names at most one default: pflag appends the flag's
// own "(default ...)", so a usage text that names another one (such as
// "(default $GRAFT_SERVER)") contradicts it.
func TestHelpOneDefaultPerFlag(t *testing.T) {
	a := &app{out: os.Stdout, log: zap.NewNop()}
	def := regexp.MustCompile(`\(default\b`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, line := range strings.Split(c.LocalFlags().FlagUsages(), "\n") {
			if n := len(def.FindAllString(line, -1)); n > 1 {
				t.Errorf("%s: %d defaults in %q", c.CommandPath(), n, strings.TrimSpace(line))
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.rootCmd())
}

// serve needs --allow-root: its help says so, and serve without one stops
// at once with the reason instead of starting a daemon that accepts no job.
func TestServeNeedsAllowRoot(t *testing.T) {
	help, code := run(t, "serve", "--help")
	var line string
	for _, l := range strings.Split(help, "\n") {
		if strings.Contains(l, "--allow-root") && !strings.Contains(l, "Usage") && strings.HasPrefix(strings.TrimSpace(l), "--") {
			line = l
		}
	}
	if code != 0 || !strings.Contains(line, "required") {
		t.Errorf("serve --help: exit %d, --allow-root line %q", code, line)
	}
	// An address that cannot be listened on: were the check missing, serve
	// would fail on it (rather than run forever).
	_, stderr, code := runAll(t, "serve", "--listen", "no-such-host.invalid:1", "--data-dir", t.TempDir())
	if code == 0 || !strings.Contains(stderr, "--allow-root DIR is required") {
		t.Errorf("serve without --allow-root: exit %d, %q", code, stderr)
	}
}

// A mistyped flag gets the closest flag, as a mistyped command gets the
// closest command.
func TestFlagTypoSuggestion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--epoch", "3"}, "did you mean --epochs?"},
		{[]string{"train", "--bakbone=m"}, "did you mean --backbone?"},
		{[]string{"eval", "--rnu", "r"}, "did you mean --run?"},
		{[]string{"inspect", "--log-formt", "json", "m"}, "did you mean --log-format?"},
		{[]string{"train", "--zzzzzzzz"}, "graft train --help lists the flags"},
	} {
		_, stderr, code := runAll(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q, want %q", c.args, code, stderr, c.want)
		}
	}
}
