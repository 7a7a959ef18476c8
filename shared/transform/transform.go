// Package transform starts Shoplake's warehouse transforms (dbt build) after
// new raw data lands. In production that is an execution of the Cloud Run job
// that runs dbt (CloudRunJob); locally, Deferred records the request and the
// local runner runs dbt once the loads settle; where no job is configured,
// NotConfigured says so plainly.
package transform

import (
	"context"
	"fmt"
	"log/slog"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"
)

// jobRunner is the part of the Cloud Run Jobs client that CloudRunJob uses.
type jobRunner interface {
	RunJob(ctx context.Context, req *runpb.RunJobRequest, opts ...gax.CallOption) (*run.RunJobOperation, error)
}

// CloudRunJob starts executions of one Cloud Run job.
type CloudRunJob struct {
	client jobRunner
	name   string
}

// NewCloudRunJob returns a trigger for the job named
// projects/<p>/locations/<r>/jobs/<j>, using client.
func NewCloudRunJob(name string, client *run.JobsClient) *CloudRunJob {
	return &CloudRunJob{client: client, name: name}
}

// Start asks Cloud Run to execute the job and returns once the execution is
// accepted; it does not wait for dbt to finish (the job reports its own
// outcome to Cloud Logging and Monitoring).
func (j *CloudRunJob) Start(ctx context.Context, reason string) error {
	if _, err := j.client.RunJob(ctx, &runpb.RunJobRequest{Name: j.name}); err != nil {
		return fmt.Errorf("run job %s (%s): %w", j.name, reason, err)
	}
	return nil
}

// NotConfigured is the trigger used when no transform job is configured: it
// logs, on every call, that the transforms were not started.
type NotConfigured struct {
	Logger *slog.Logger
	// Hint tells the operator how to configure transforms.
	Hint string
}

// Start logs that transforms are not configured and returns nil.
func (n NotConfigured) Start(ctx context.Context, reason string) error {
	n.Logger.WarnContext(ctx, "transforms are not configured; not starting dbt", "reason", reason, "hint", n.Hint)
	return nil
}
