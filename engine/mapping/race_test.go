//go:build race

package mapping_test

// raceEnabled: under -race, sync.Pool (used by regexp) drops items at
// random, so allocation counts are not meaningful.
const raceEnabled = true
