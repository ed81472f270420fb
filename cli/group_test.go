package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite testdata/commands.txt from the command tree")

// TestCommandTree: every command's name, aliases, help text and flags are
// as testdata/commands.txt records them, so a refactor of how the tree is
// built (group) changes nothing a user sees. After a deliberate change:
// go test ./cli -run TestCommandTree -update.
func TestCommandTree(t *testing.T) {
	var b strings.Builder
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		fmt.Fprintf(&b, "%s\n  use=%q aliases=%q hidden=%v runnable=%v\n  short=%q\n  long=%q\n  example=%q\n",
			path, c.Use, c.Aliases, c.Hidden, c.Runnable(), c.Short, c.Long, c.Example)
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			fmt.Fprintf(&b, "  --%s -%s %s default=%q: %q\n", f.Name, f.Shorthand, f.Value.Type(), f.DefValue, f.Usage)
		})
		for _, sub := range c.Commands() {
			walk(sub, path+" "+sub.Name())
		}
	}
	walk(NewRoot(&cobra.Command{Use: "up", Short: "stand-in for the daemon command"}), "clawd")
	file := filepath.Join("testdata", "commands.txt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("command tree differs from %s at line %d:\n got  %s\n want %s", file, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("command tree differs from %s: %d lines, want %d", file, len(gl), len(wl))
	}
}
