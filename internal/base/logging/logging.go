package logging

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Formats accepted by --log-format.
const (
	Auto    = "auto"
	Console = "console"
	JSON    = "json"
)

// New returns a logger writing to f in the given format at the given level
// ("debug", "info", "warn", "error"). Auto picks console on a terminal.
func New(f *os.File, format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("logging: level %q: use debug, info, warn or error", level)
	}
	if format == Auto {
		format = JSON
		if IsTerminal(f) {
			format = Console
		}
	}
	var enc zapcore.Encoder
	switch format {
	case Console:
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		cfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	case JSON:
		enc = zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	default:
		return nil, fmt.Errorf("logging: format %q: use %s, %s or %s", format, Auto, Console, JSON)
	}
	var out zapcore.WriteSyncer = zapcore.Lock(f)
	if IsTerminal(f) {
		out = ScreenOf(f) // shared with the progress bars
	}
	return zap.New(zapcore.NewCore(enc, out, lvl)), nil
}
