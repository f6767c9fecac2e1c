package badgerstore

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter implements badger.Logger. Only warnings and errors are passed
// on: Badger's info and debug lines (compactions, flushes, file rotations)
// are frequent and of no use to an operator of TrailSpark.
type hclogAdapter struct{ l hclog.Logger }

func (a hclogAdapter) Errorf(format string, args ...any) {
	a.l.Error(message(format, args))
}

func (a hclogAdapter) Warningf(format string, args ...any) {
	a.l.Warn(message(format, args))
}

func (hclogAdapter) Infof(string, ...any)  {}
func (hclogAdapter) Debugf(string, ...any) {}

// message formats a Badger log line; Badger ends some of them with a newline.
func message(format string, args []any) string {
	return strings.TrimSpace(fmt.Sprintf(format, args...))
}
