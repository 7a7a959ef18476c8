package shopifyapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mode is a way the stand-in misbehaves as real stores do; Misbehave puts
// one on a Server, and the adapter's tests run through every one.
type Mode string

// The modes.
const (
	// ThrottleStorm answers the first six queries THROTTLED, alternately
	// with HTTP 200 (as the GraphQL API documents) and 429.
	ThrottleStorm Mode = "throttle-storm"
	// CutOff sends half of the first answer for each page, then closes the
	// connection.
	CutOff Mode = "cut-off"
	// TokenRevoked answers 401 from the third request on, as a store whose
	// app was uninstalled mid-run.
	TokenRevoked Mode = "token-revoked"
	// BulkExpiredMode lets every bulk operation end EXPIRED.
	BulkExpiredMode Mode = "bulk-expired"
	// ByteEvery200ms sends the first answer for each page one byte every
	// 200 ms.
	ByteEvery200ms Mode = "byte-every-200ms"
)

// Modes lists every Mode, for flags and tests.
var Modes = []Mode{ThrottleStorm, CutOff, TokenRevoked, BulkExpiredMode, ByteEvery200ms}

// Misbehave makes the server misbehave as m says.
func (s *Server) Misbehave(m Mode) error {
	if !slices.Contains(Modes, m) {
		names := make([]string, len(Modes))
		for i, x := range Modes {
			names[i] = string(x)
		}
		return fmt.Errorf("unknown shopify fault %q (one of: %s)", m, strings.Join(names, ", "))
	}
	var mu sync.Mutex
	firstOfPage := map[string]bool{}
	first := func(op string, vars map[string]any) bool {
		after, _ := vars["after"].(string)
		key := op + "\x00" + after
		mu.Lock()
		defer mu.Unlock()
		if firstOfPage[key] {
			return false
		}
		firstOfPage[key] = true
		return true
	}
	switch m {
	case ThrottleStorm:
		s.OnRequest(func(_ string, _ map[string]any, n int) *Fault {
			if n < 6 {
				return &Fault{Throttle: true, ThrottleStatus: []int{http.StatusOK, http.StatusTooManyRequests}[n%2]}
			}
			return nil
		})
	case CutOff:
		s.OnRequest(func(op string, vars map[string]any, _ int) *Fault {
			if first(op, vars) {
				return &Fault{CutOff: true}
			}
			return nil
		})
	case TokenRevoked:
		s.OnRequest(func(_ string, _ map[string]any, n int) *Fault {
			if n >= 2 {
				return &Fault{Status: http.StatusUnauthorized}
			}
			return nil
		})
	case BulkExpiredMode:
		s.SetBulk(BulkConfig{Polls: 1, End: BulkExpired})
	case ByteEvery200ms:
		s.OnRequest(func(op string, vars map[string]any, _ int) *Fault {
			if first(op, vars) {
				return &Fault{Drip: 200 * time.Millisecond}
			}
			return nil
		})
	}
	return nil
}
