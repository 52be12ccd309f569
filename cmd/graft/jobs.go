package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/base/logging"
	"github.com/graft-ml/graft/internal/base/progress"
)

// clientFlags are the daemon address and token of the client commands.
type clientFlags struct{ server string }

func (c *clientFlags) add(cmd *cobra.Command) {
	def := os.Getenv("GRAFT_SERVER")
	if def == "" {
		def = client.DefaultServer
	}
	cmd.PersistentFlags().StringVar(&c.server, "server", def, "daemon address ($GRAFT_SERVER, when set, is the default); the token comes from $GRAFT_TOKEN")
}

func (c *clientFlags) client() *client.Client { return client.New(c.server, os.Getenv("GRAFT_TOKEN")) }

// clientHints attaches the CLI's advice to the client's typed errors (the
// client, a library, gives none).
func clientHints(err error) error {
	if errors.Is(err, client.ErrNoAnswer) {
		return hint.With(err, "is graft serve running there? --server or GRAFT_SERVER points at it")
	}
	return err
}

// downloadHints is clientHints for a download to a file (export, backup).
func downloadHints(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return hint.With(err, "give a file that does not exist yet, or overwrite it (--force)")
	}
	return err
}

func (a *app) jobsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "jobs", Short: "Submit, list, watch and cancel the jobs of a running graft serve"}
	cf.add(cmd)
	var asJSON, follow bool
	var model string
	submit := &cobra.Command{
		Use:   "submit SPEC.json",
		Short: "Submit a job: SPEC.json holds the options of graft train as JSON (- reads stdin); its relative paths are taken from SPEC.json's folder (the current directory for stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var b []byte
			var err error
			// Relative paths in the spec are the spec file's, or the
			// working directory's for stdin.
			base, from := ".", "the current directory"
			if args[0] == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(args[0])
				base, from = filepath.Dir(args[0]), "the spec file's folder"
			}
			if err != nil {
				return err
			}
			if base, err = filepath.Abs(base); err != nil {
				return err
			}
			if model != "" {
				if b, err = withModel(b, model); err != nil {
					return err
				}
			}
			b, resolved, err := absPaths(b, base)
			if err != nil {
				return err
			}
			for _, r := range resolved {
				a.log.Info("relative path resolved against "+from, zap.String("path", r))
			}
			j, err := cf.client().SubmitRaw(cmd.Context(), b)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(j)
			}
			fmt.Fprintln(a.out, j.ID)
			return nil
		},
	}
	submit.Flags().StringVar(&model, "model", "", "name to register the trained model under (default: the job id)")
	submit.Flags().BoolVar(&asJSON, "json", false, "print the job as JSON")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobs, err := cf.client().Jobs(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(jobs)
			}
			tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tPROGRESS\tATTEMPTS\tNODES\tMODEL\tCREATED")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", j.ID, j.State, j.Progress.Phase(j.Spec.Epochs), len(j.Attempts), cell(attemptNodes(j.Attempts)), j.Model, j.Created.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := cf.client().Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printJSON(j)
		},
	}
	logs := &cobra.Command{
		Use:   "logs [-f] ID",
		Short: "Print a job's events: on a terminal its progress as graft train shows it, else (or with --json) JSON lines; -f follows them until the job ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := cf.client()
			show := a.printEvent
			if f, ok := a.out.(*os.File); ok && !asJSON && logging.IsTerminal(f) {
				r := progress.New(f, true)
				show = func(e api.JobEvent) error { r.JobEvent(e); return nil }
				// A running job's events end on a bar: the prompt
				// comes under it.
				defer logging.ScreenOf(f).End()
			}
			_, err := c.Events(cmd.Context(), args[0], 0, follow, show)
			if err != nil || !follow {
				return err
			}
			j, err := c.Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if j.State != api.Succeeded {
				return fmt.Errorf("job %s %s: %s", j.ID, j.State, j.Error)
			}
			return nil
		},
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "follow until the job ends")
	logs.Flags().BoolVar(&asJSON, "json", false, "print JSON lines on a terminal too")
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job (a running worker is stopped after its current step)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := cf.client().Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%s: cancel requested (state %s)\n", j.ID, j.State)
			return nil
		},
	}
	var rmCancel, rmModels bool
	rm := &cobra.Command{
		Use:   "rm ID [--cancel] [--models]",
		Short: "Delete a job: its record, log and run directory (its model versions stay served unless --models)",
		Long: `Delete a job: its record, log and run directory. The model versions it
registered stay served, and its run directory with them until the last is
deleted (graft models rm); --models deletes them too. A queued or running
job is refused unless --cancel: then it is cancelled first and deleted once
its worker is gone. A deleted job's id is never given to another job.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := cf.client().DeleteJob(cmd.Context(), args[0], rmCancel, rmModels)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%s: deleted\n", d.Job)
			printDeleted(a.out, d)
			return nil
		},
	}
	rm.Flags().BoolVar(&rmCancel, "cancel", false, "cancel the job first if it is queued or running")
	rm.Flags().BoolVar(&rmModels, "models", false, "delete the model versions the job registered too")
	cmd.AddCommand(submit, ls, show, logs, cancel, rm)
	return cmd
}

// printDeleted lists the model versions a delete removed, and those of a
// deleted job it kept.
func printDeleted(w io.Writer, d *api.Deleted) {
	for _, m := range d.Models {
		fmt.Fprintf(w, "%s/%d: deleted\n", m.Name, m.Version)
	}
	for _, m := range d.Kept {
		fmt.Fprintf(w, "%s/%d: kept, with the job's run directory (graft models rm %s/%d deletes it)\n", m.Name, m.Version, m.Name, m.Version)
	}
}

func (a *app) modelsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "models", Short: "The models a running graft serve serves"}
	cf.add(cmd)
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List models and their versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := cf.client().Models(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(ms)
			}
			tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tJOB\tCLASSES\tCREATED")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", m.Name, m.Version, m.JobID, len(m.Classes), m.Created.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var version int
	var out string
	var force bool
	export := &cobra.Command{
		Use:   "export NAME --out FILE.tar [--version N] [--force]",
		Short: "Download a model version as one TensorFlow SavedModel: a tar archive in TensorFlow Serving's layout (NAME/VERSION/saved_model.pb)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("models export: give --out FILE.tar, the archive to write")
			}
			if err := cf.client().Export(cmd.Context(), args[0], version, out, force); err != nil {
				return downloadHints(err)
			}
			fmt.Fprintln(a.out, out)
			return nil
		},
	}
	export.Flags().IntVar(&version, "version", 0, "model version (default: the latest)")
	export.Flags().StringVar(&out, "out", "", "the archive to write (written whole under a temporary name, then renamed)")
	export.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
	rm := &cobra.Command{
		Use:   "rm NAME[/VERSION]",
		Short: "Delete a model version, or every version of a model (the predictions in flight finish first)",
		Long: `Delete a model version (NAME/VERSION), or every version of a model
(NAME): it is unloaded once the predictions in flight finish, and its
export goes from the data directory. The latest is then the newest version
left. Version numbers are never given again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := parseVersionRef(args[0])
			if err != nil {
				return err
			}
			d, err := cf.client().DeleteModel(cmd.Context(), name, version)
			if err != nil {
				return err
			}
			printDeleted(a.out, d)
			return nil
		},
	}
	cmd.AddCommand(ls, export, rm)
	return cmd
}

// attemptNodes names the nodes a job's attempts ran on, in order, each
// once ("-" before any ran).
func attemptNodes(as []api.Attempt) string {
	var nodes []string
	for _, a := range as {
		if a.Node != "" && !slices.Contains(nodes, a.Node) {
			nodes = append(nodes, a.Node)
		}
	}
	if len(nodes) == 0 {
		return "-"
	}
	return strings.Join(nodes, ",")
}

// parseVersionRef reads NAME or NAME/VERSION (version 0: every version).
func parseVersionRef(ref string) (string, int, error) {
	name, v, ok := strings.Cut(ref, "/")
	if !ok {
		return name, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || name == "" {
		return "", 0, fmt.Errorf("models rm %s: give NAME or NAME/VERSION with a version number of 1 or more (graft models ls lists them)", strconv.Quote(ref))
	}
	return name, n, nil
}
