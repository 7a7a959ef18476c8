// Package stack starts the local wing's stand-ins of the cloud (the
// store's API, fake-gcs-server, DuckDB as the warehouse, Pub/Sub) and
// wires the four functions to them through the constructors the cloud
// uses, served by functions-framework-go. It owns the once-per-process
// settings: the emulator hosts, the functions registry and the stream's
// memory budget (LimitMemory).
package stack
