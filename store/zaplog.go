package store

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcd and its client log through zap. hclogCore sends their errors to
// clawd's logger so one stream carries everything, and drops the rest: at
// info etcd logs every raft step.
type hclogCore struct {
	log    hclog.Logger
	fields []zapcore.Field
	// quiet is set while the store closes: etcd reports each listener it
	// shuts down as an error, which would alarm operators on every stop.
	quiet *atomic.Bool
}

var _ zapcore.Core = (*hclogCore)(nil)

func newZapLogger(log hclog.Logger, quiet *atomic.Bool) *zap.Logger {
	return zap.New(&hclogCore{log: log, quiet: quiet})
}

// Enabled implements zapcore.LevelEnabler.
func (c *hclogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.ErrorLevel }

// With implements zapcore.Core.
func (c *hclogCore) With(fields []zapcore.Field) zapcore.Core {
	return &hclogCore{log: c.log, fields: append(slices.Clip(c.fields), fields...), quiet: c.quiet}
}

// Check implements zapcore.Core.
func (c *hclogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write implements zapcore.Core.
func (c *hclogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		// hclog wants "error" last.
		if k != "error" {
			args = append(args, k, fmt.Sprint(enc.Fields[k]))
		}
	}
	if err, ok := enc.Fields["error"]; ok {
		args = append(args, "error", fmt.Sprint(err))
	}
	level := hclog.Error
	if c.quiet.Load() {
		level = hclog.Debug
	}
	c.log.Log(level, e.Message, args...)
	return nil
}

// Sync implements zapcore.Core.
func (c *hclogCore) Sync() error { return nil }
