// Package runner runs the local pipeline once, in phases: it plays Cloud
// Scheduler calling IngestBatch, Eventarc delivering the new raw objects to
// LoadRawObject, Cloud Scheduler calling PollCarts and the push
// subscription delivering its events to StreamCartEvents, then runs dbt
// when the marts are behind the raw tables. Between them it audits and
// repairs the warehouse, and it records what happened in a summary.
package runner
