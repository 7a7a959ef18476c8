// Package summary is what a local run did: the run summary the runner
// fills phase by phase, prints for people (Print) and writes as JSON for
// scripts (last-run.json, and the run history under runs/), and the report
// page drawn from that history and the warehouse (WriteReport).
package summary
