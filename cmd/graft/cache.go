package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/extract/featcache"
)

// cacheCmd is graft cache: the feature cache's files, read directly (no
// daemon needed). Pruning takes the cache's lock and spares leased
// features, so it is safe while a daemon or a training run uses them.
func (a *app) cacheCmd() *cobra.Command {
	var dataDir, cacheDir string
	var asJSON bool
	dir := func(cmd *cobra.Command) (string, error) {
		switch {
		case cmd.Flags().Changed("data-dir") && cmd.Flags().Changed("cache-dir"):
			return "", errors.New("cache: --data-dir and --cache-dir name two caches; pass one")
		case cmd.Flags().Changed("data-dir"):
			return filepath.Join(dataDir, "cache"), nil
		case cacheDir != "":
			return cacheDir, nil
		}
		return featcache.DefaultDir()
	}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "The feature cache: du, ls, prune (graft train's user cache, or a daemon's with --data-dir)",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dataDir, "data-dir", "", "graft serve's data directory: the daemon's cache, its cache/ (default: graft train's)")
	pf.StringVar(&cacheDir, "cache-dir", "", "a feature cache directory (default $GRAFT_CACHE_DIR or the user cache dir, as graft train)")
	pf.BoolVar(&asJSON, "json", false, "print JSON")

	du := &cobra.Command{
		Use:   "du",
		Short: "Bytes and entries of the cache (counted from its files), and its lookups and evictions so far",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir(cmd)
			if err != nil {
				return err
			}
			bytes, entries, err := featcache.Usage(d)
			if err != nil {
				return err
			}
			st, err := featcache.ReadStats(d)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"dir": d, "bytes": bytes, "entries": entries, "hits": st.Hits, "misses": st.Misses, "evictions": st.Evictions})
			}
			fmt.Fprintf(a.out, "%s\t%s in %d entries (%d bytes); %d hits, %d misses, %d evicted so far\n", cell(d), sizeText(bytes), entries, bytes, st.Hits, st.Misses, st.Evictions)
			return nil
		},
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "The cache's namespaces (backbone, tap, preprocessing), most recently used first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir(cmd)
			if err != nil {
				return err
			}
			list, err := featcache.List(d)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(list)
			}
			tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tBACKBONE\tTAP\tPREPROCESS\tINPUT\tENTRIES\tSIZE\tLAST USED\tLEASED")
			for _, n := range list {
				bb, tap, pre, in := "?", "?", "?", "?"
				if k := n.Key; k != nil {
					bb, tap, pre, in = k.Backbone[:min(len(k.Backbone), 12)], k.Tap, k.Preprocess, fmt.Sprint(k.Input)
				}
				used := "-"
				if !n.LastUsed.IsZero() {
					used = n.LastUsed.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%v\n", n.Name, cell(bb), cell(tap), cell(pre), in, n.Entries, sizeText(n.Bytes), used, n.Leased)
			}
			return tw.Flush()
		},
	}
	var olderThan string
	var maxBytes int64
	prune := &cobra.Command{
		Use:   "prune [--older-than D] [--max-bytes N]",
		Short: "Remove features unused for D (e.g. 30d, 12h), then the least recently used beyond N bytes; a running job's are kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir(cmd)
			if err != nil {
				return err
			}
			var age time.Duration
			if olderThan != "" {
				if age, err = parseAge(olderThan); err != nil {
					return err
				}
			}
			if age <= 0 && maxBytes <= 0 {
				return hint.With(errors.New("cache prune: nothing to prune by"), "pass --older-than D (e.g. 30d) or --max-bytes N")
			}
			removed, freed, err := featcache.Prune(d, age, maxBytes)
			if err != nil {
				return err
			}
			bytes, entries, err := featcache.Usage(d)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"dir": d, "removed": removed, "freed_bytes": freed, "bytes": bytes, "entries": entries})
			}
			fmt.Fprintf(a.out, "removed %d entries (%s); %s in %d entries left in %s\n", removed, sizeText(freed), sizeText(bytes), entries, cell(d))
			return nil
		},
	}
	prune.Flags().StringVar(&olderThan, "older-than", "", "remove features not used for this long: a Go duration (36h) or days (30d)")
	prune.Flags().Int64Var(&maxBytes, "max-bytes", 0, "then remove the least recently used until the cache holds at most this many bytes")
	cmd.AddCommand(du, ls, prune)
	return cmd
}

// parseAge reads a duration, with d for days.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err == nil && n > 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("cache prune: --older-than %q: not a positive duration (e.g. 30d, 36h, 90m)", s)
	}
	return d, nil
}

// sizeText is n bytes for a person (1.5 GiB).
func sizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for ; v >= unit && i < 4; i++ {
		v /= unit
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
