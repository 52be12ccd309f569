package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
)

// Submit a job, say what the daemon refused, and follow its events (the
// example of docs/api-client.md; compiled, not run: it needs a daemon).
func ExampleClient_Submit() {
	ctx := context.Background()
	c := client.New("127.0.0.1:8470", os.Getenv("GRAFT_TOKEN"))
	j, err := c.Submit(ctx, api.JobRequest{JobSpec: api.JobSpec{
		Backbone: "/models/resnet50", Tap: "conv4_block6_out", Data: "/data/flowers",
		Epochs: api.Ptr(5), Device: api.MustDevice("cuda:1"),
	}})
	var e *client.Error
	switch {
	case errors.As(err, &e) && errors.Is(err, api.ErrSpec):
		for _, f := range e.Fields { // the settings the daemon refused
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
		return
	case errors.Is(err, client.ErrNoAnswer):
		fmt.Println("is graft serve running?", err)
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	_, err = c.Events(ctx, j.ID, 0, true, func(e api.JobEvent) error {
		fmt.Println(e.Type, e.Message)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
}
