// Package audit checks the local warehouse against what the pipeline
// recorded, and repairs it from the lake: the cart ledger compares
// PollCarts' state with the carts the warehouse holds live (and realigns
// the state before a poll), damaged snapshot partitions are found from
// their load records and delivered again, and a missing warehouse is
// rebuilt from the lake.
package audit
