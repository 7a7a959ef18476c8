package entrypoints

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/shared/config"
)

func TestAllListsEveryFunctionOnce(t *testing.T) {
	t.Parallel()
	want := []string{"IngestBatch", "LoadRawObject", "PollCarts", "StreamCartEvents"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

// TestSetupsRefuseAnEmptyConfiguration: each constructor reports the
// variable it misses instead of building a half-configured function.
func TestSetupsRefuseAnEmptyConfiguration(t *testing.T) {
	t.Parallel()
	for _, e := range All() {
		h, err := e.Setup(context.Background(), config.Map(nil), nil)
		if err == nil || !strings.Contains(err.Error(), "RAW_BUCKET") {
			t.Errorf("%s with no configuration: %v, %v; want an error naming RAW_BUCKET", e.Name, h, err)
		}
	}
}
