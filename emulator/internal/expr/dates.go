package expr

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// Time zone names must resolve on machines without a zoneinfo database.
	_ "time/tzdata"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

var utcZone = time.UTC

const isoFormat = "%Y-%m-%dT%H:%M:%S.%LZ"

func init() {
	parts := map[string]func(t time.Time) any{
		"$year":       func(t time.Time) any { return int32(t.Year()) },
		"$month":      func(t time.Time) any { return int32(t.Month()) },
		"$dayOfMonth": func(t time.Time) any { return int32(t.Day()) },
		"$hour":       func(t time.Time) any { return int32(t.Hour()) },
		"$minute":     func(t time.Time) any { return int32(t.Minute()) },
		"$second":     func(t time.Time) any { return int32(t.Second()) },
		"$millisecond": func(t time.Time) any {
			return int32(t.Nanosecond() / int(time.Millisecond))
		},
		"$dayOfWeek":    func(t time.Time) any { return int32(t.Weekday()) + 1 },
		"$dayOfYear":    func(t time.Time) any { return int32(t.YearDay()) },
		"$week":         func(t time.Time) any { return int32(weekOfYear(t)) },
		"$isoWeek":      func(t time.Time) any { _, w := t.ISOWeek(); return int32(w) },
		"$isoWeekYear":  func(t time.Time) any { y, _ := t.ISOWeek(); return int64(y) },
		"$isoDayOfWeek": func(t time.Time) any { return int32(isoWeekday(t)) },
	}
	for name, f := range parts {
		register(datePart(f), name)
	}
	register(parseDateToString, "$dateToString")
	register(parseDateToParts, "$dateToParts")
	register(parseDateFromParts, "$dateFromParts")
	register(parseDateFromString, "$dateFromString")
}

func weekOfYear(t time.Time) int { return (t.YearDay() - 1 + 7 - int(t.Weekday())) / 7 }

func isoWeekday(t time.Time) int {
	if t.Weekday() == time.Sunday {
		return 7
	}
	return int(t.Weekday())
}

// CoerceToDate is Value::coerceToDate: dates, timestamps and ObjectIds.
func CoerceToDate(v any) (time.Time, error) {
	switch x := v.(type) {
	case bson.DateTime:
		return time.UnixMilli(int64(x)).UTC(), nil
	case bson.Timestamp:
		return time.Unix(int64(x.T), 0).UTC(), nil
	case bson.ObjectID:
		return x.Timestamp().UTC(), nil
	}
	return time.Time{}, mongoerr.New(16006, "can't convert from BSON type %s to Date", typeName(v))
}

// ParseTimeZone resolves an Olson name or a UTC offset (+hh, +hhmm,
// +hh:mm) as the server's TimeZoneDatabase does.
func ParseTimeZone(tz string) (*time.Location, error) {
	if tz == "UTC" || tz == "GMT" || tz == "Z" {
		return time.UTC, nil
	}
	if strings.HasPrefix(tz, "+") || strings.HasPrefix(tz, "-") {
		digits := strings.ReplaceAll(tz[1:], ":", "")
		var h, m int
		var err1, err2 error
		switch len(digits) {
		case 2:
			h, err1 = strconv.Atoi(digits)
		case 4:
			h, err1 = strconv.Atoi(digits[:2])
			m, err2 = strconv.Atoi(digits[2:])
		default:
			err1 = fmt.Errorf("bad offset")
		}
		if err1 == nil && err2 == nil {
			off := h*3600 + m*60
			if tz[0] == '-' {
				off = -off
			}
			return time.FixedZone(tz, off), nil
		}
	} else if loc, err := time.LoadLocation(tz); err == nil && tz != "" && tz != "Local" {
		return loc, nil
	}
	return nil, mongoerr.New(40485, "unrecognized time zone identifier: \"%s\"", tz)
}

// dateArgs is the {date, timezone} pair most date operators take.
type dateArgs struct {
	date, timezone Expr
}

func parseDateArgs(name string, arg any) (dateArgs, error) {
	if d, ok := value.Doc(arg); ok && !(len(d) > 0 && strings.HasPrefix(d[0].Key, "$")) {
		var out dateArgs
		for _, e := range d {
			c, err := Compile(e.Value)
			if err != nil {
				return dateArgs{}, err
			}
			switch e.Key {
			case "date":
				out.date = c
			case "timezone":
				out.timezone = c
			default:
				return dateArgs{}, mongoerr.New(40535, "unrecognized option to %s: \"%s\"", name, e.Key)
			}
		}
		if out.date == nil {
			return dateArgs{}, mongoerr.New(40539, "missing 'date' argument to %s, provided: %s", name, render(d))
		}
		return out, nil
	}
	if a, ok := arg.(bson.A); ok {
		if len(a) != 1 {
			return dateArgs{}, mongoerr.New(40536, "%s accepts exactly one argument if given an array, but was given %d", name, len(a))
		}
		arg = a[0]
	}
	c, err := Compile(arg)
	if err != nil {
		return dateArgs{}, err
	}
	return dateArgs{date: c}, nil
}

// eval returns the date in its time zone; ok is false for a null date or
// time zone (the operator then returns null).
func (a dateArgs) eval(root bson.D, vars map[string]any, tzCode int32) (time.Time, bool, error) {
	loc := time.UTC
	if a.timezone != nil {
		tz, err := a.timezone.Eval(root, vars)
		if err != nil {
			return time.Time{}, false, err
		}
		if Nullish(tz) {
			return time.Time{}, false, nil
		}
		s, ok := tz.(string)
		if !ok {
			return time.Time{}, false, mongoerr.New(tzCode, "timezone must evaluate to a string, found %s", typeName(tz))
		}
		if loc, err = ParseTimeZone(s); err != nil {
			return time.Time{}, false, err
		}
	}
	v, err := a.date.Eval(root, vars)
	if err != nil {
		return time.Time{}, false, err
	}
	if Nullish(v) {
		return time.Time{}, false, nil
	}
	t, err := CoerceToDate(v)
	if err != nil {
		return time.Time{}, false, err
	}
	return t.In(loc), true, nil
}

func datePart(f func(time.Time) any) parser {
	return func(name string, arg any) (Expr, error) {
		args, err := parseDateArgs(name, arg)
		if err != nil {
			return nil, err
		}
		return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
			t, ok, err := args.eval(root, vars, 40533)
			if err != nil || !ok {
				return nil, err
			}
			return f(t), nil
		}), nil
	}
}

func parseDateToString(name string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"date", "format", "timezone", "onNull"},
		func() error { return mongoerr.New(18629, "$dateToString only supports an object as its argument") },
		func(f string) error { return mongoerr.New(18534, "Unrecognized argument to $dateToString: %s", f) })
	if err != nil {
		return nil, err
	}
	if args["date"] == nil {
		return nil, mongoerr.New(18628, "Missing 'date' parameter to $dateToString")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		format := isoFormat
		formatNull := false
		if args["format"] != nil {
			f, err := args["format"].Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(f) {
				formatNull = true
			} else {
				s, ok := f.(string)
				if !ok {
					return nil, mongoerr.New(18533, "$dateToString requires that 'format' be a string, found: %s with value %s", typeName(f), render(f))
				}
				if err := validateFormat(s); err != nil {
					return nil, err
				}
				format = s
			}
		}
		d, err := args["date"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(d) {
			if args["onNull"] != nil {
				return args["onNull"].Eval(root, vars)
			}
			return nil, nil
		}
		t, ok, err := dateArgs{date: constant{d}, timezone: args["timezone"]}.eval(root, vars, 40517)
		if err != nil || !ok || formatNull {
			return nil, err
		}
		return formatTime(format, t)
	}), nil
}

func validateFormat(f string) error {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		if i+1 >= len(f) {
			return mongoerr.New(18535, "Unmatched '%%' at end of format string")
		}
		i++
		if !strings.ContainsRune("dGHjLmMSuUVwYzZ%bB", rune(f[i])) {
			return mongoerr.New(18536, "Invalid format character '%%%c' in format string", f[i])
		}
	}
	return nil
}

func formatDate(format string, d bson.DateTime, loc *time.Location) (string, error) {
	return formatTime(format, time.UnixMilli(int64(d)).In(loc))
}

func formatTime(format string, t time.Time) (string, error) {
	if err := validateFormat(format); err != nil {
		return "", err
	}
	if t.Year() < 0 || t.Year() > 9999 {
		return "", mongoerr.New(18537, "$dateToString is only defined on year 0-9999, tried to use year %d", t.Year())
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		switch format[i] {
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'G':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%04d", y)
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'L':
			fmt.Fprintf(&b, "%03d", t.Nanosecond()/int(time.Millisecond))
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'u':
			fmt.Fprintf(&b, "%d", isoWeekday(t))
		case 'U':
			fmt.Fprintf(&b, "%02d", weekOfYear(t))
		case 'V':
			_, w := t.ISOWeek()
			fmt.Fprintf(&b, "%02d", w)
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday())+1)
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'z':
			_, off := t.Zone()
			sign := '+'
			if off < 0 {
				sign, off = '-', -off
			}
			fmt.Fprintf(&b, "%c%02d%02d", sign, off/3600, off%3600/60)
		case 'Z':
			_, off := t.Zone()
			fmt.Fprintf(&b, "%+d", off/60)
		case 'b':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case '%':
			b.WriteByte('%')
		}
	}
	return b.String(), nil
}

func parseDateToParts(_ string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"date", "timezone", "iso8601"},
		func() error { return mongoerr.New(40524, "$dateToParts only supports an object as its argument") },
		func(f string) error { return mongoerr.New(40520, "Unrecognized argument to $dateToParts: %s", f) })
	if err != nil {
		return nil, err
	}
	if args["date"] == nil {
		return nil, mongoerr.New(40522, "Missing 'date' parameter to $dateToParts")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		iso := false
		if args["iso8601"] != nil {
			v, err := args["iso8601"].Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(v) {
				return nil, nil
			}
			b, ok := v.(bool)
			if !ok {
				return nil, mongoerr.New(40521, "iso8601 must evaluate to a bool, found %s", typeName(v))
			}
			iso = b
		}
		t, ok, err := dateArgs{date: args["date"], timezone: args["timezone"]}.eval(root, vars, 40517)
		if err != nil || !ok {
			return nil, err
		}
		ms := int32(t.Nanosecond() / int(time.Millisecond))
		if iso {
			y, w := t.ISOWeek()
			return bson.D{
				{Key: "isoWeekYear", Value: int32(y)}, {Key: "isoWeek", Value: int32(w)},
				{Key: "isoDayOfWeek", Value: int32(isoWeekday(t))}, {Key: "hour", Value: int32(t.Hour())},
				{Key: "minute", Value: int32(t.Minute())}, {Key: "second", Value: int32(t.Second())},
				{Key: "millisecond", Value: ms},
			}, nil
		}
		return bson.D{
			{Key: "year", Value: int32(t.Year())}, {Key: "month", Value: int32(t.Month())},
			{Key: "day", Value: int32(t.Day())}, {Key: "hour", Value: int32(t.Hour())},
			{Key: "minute", Value: int32(t.Minute())}, {Key: "second", Value: int32(t.Second())},
			{Key: "millisecond", Value: ms},
		}, nil
	}), nil
}

var dateFromPartsFields = []string{"year", "month", "day", "hour", "minute", "second", "millisecond", "isoWeekYear", "isoWeek", "isoDayOfWeek", "timezone"}

func parseDateFromParts(_ string, arg any) (Expr, error) {
	args, err := namedArgs(arg, dateFromPartsFields,
		func() error { return mongoerr.New(40519, "$dateFromParts only supports an object as its argument") },
		func(f string) error { return mongoerr.New(40518, "Unrecognized argument to $dateFromParts: %s", f) })
	if err != nil {
		return nil, err
	}
	natural := args["year"] != nil
	iso := args["isoWeekYear"] != nil
	switch {
	case !natural && !iso:
		return nil, mongoerr.New(40516, "$dateFromParts requires either 'year' or 'isoWeekYear' to be present")
	case natural && (iso || args["isoWeek"] != nil || args["isoDayOfWeek"] != nil):
		return nil, mongoerr.New(40489, "$dateFromParts does not allow mixing natural dates with ISO dates")
	case iso && (args["month"] != nil || args["day"] != nil):
		return nil, mongoerr.New(40525, "$dateFromParts does not allow mixing ISO dates with natural dates")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		vals := map[string]int64{"month": 1, "day": 1, "isoWeek": 1, "isoDayOfWeek": 1}
		for _, f := range dateFromPartsFields[:10] {
			e := args[f]
			if e == nil {
				continue
			}
			v, err := e.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(v) {
				return nil, nil
			}
			n, ok := toInt64(v)
			if !ok {
				return nil, mongoerr.New(40515, "'%s' must evaluate to an integer, found %s with value %s", f, typeName(v), render(v))
			}
			switch f {
			case "month", "day", "hour", "minute", "isoWeek", "isoDayOfWeek":
				if n < -32768 || n > 32767 {
					return nil, mongoerr.New(31034, "'%s' must evaluate to a value in the range [-32768, 32767]; value %d is not in range", f, n)
				}
			}
			vals[f] = n
		}
		loc := time.UTC
		if args["timezone"] != nil {
			tz, err := args["timezone"].Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(tz) {
				return nil, nil
			}
			s, ok := tz.(string)
			if !ok {
				return nil, mongoerr.New(40517, "timezone must evaluate to a string, found %s", typeName(tz))
			}
			if loc, err = ParseTimeZone(s); err != nil {
				return nil, err
			}
		}
		clock := time.Duration(vals["hour"])*time.Hour + time.Duration(vals["minute"])*time.Minute +
			time.Duration(vals["second"])*time.Second + time.Duration(vals["millisecond"])*time.Millisecond
		if natural {
			y := vals["year"]
			if y < 1 || y > 9999 {
				return nil, mongoerr.New(40523, "'year' must evaluate to an integer in the range 1 to 9999, found %d", y)
			}
			t := time.Date(int(y), time.Month(vals["month"]), int(vals["day"]), 0, 0, 0, 0, loc).Add(clock)
			return bson.NewDateTimeFromTime(t), nil
		}
		y := vals["isoWeekYear"]
		if y < 1 || y > 9999 {
			return nil, mongoerr.New(31095, "'isoWeekYear' must evaluate to an integer in the range 1 to 9999, found %d", y)
		}
		// ISO week 1 is the week with the year's first Thursday.
		jan4 := time.Date(int(y), time.January, 4, 0, 0, 0, 0, loc)
		week1Monday := jan4.AddDate(0, 0, 1-isoWeekday(jan4))
		t := week1Monday.AddDate(0, 0, int((vals["isoWeek"]-1)*7+vals["isoDayOfWeek"]-1)).Add(clock)
		return bson.NewDateTimeFromTime(t), nil
	}), nil
}

// ParseDateString parses the ISO-8601 forms $toDate and $convert accept.
func ParseDateString(s string) (bson.DateTime, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return bson.NewDateTimeFromTime(t), nil
		}
	}
	return 0, conversionError("Error parsing date string '%s'", s)
}

func parseDateFromString(_ string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"dateString", "format", "timezone", "onNull", "onError"},
		func() error {
			return mongoerr.New(40540, "$dateFromString only supports an object as an argument, found: %s", typeName(arg))
		},
		func(f string) error { return mongoerr.New(40541, "Unrecognized argument to $dateFromString: %s", f) })
	if err != nil {
		return nil, err
	}
	if args["dateString"] == nil {
		return nil, mongoerr.New(40542, "Missing 'dateString' parameter to $dateFromString")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		layout := ""
		formatNull := false
		if args["format"] != nil {
			f, err := args["format"].Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(f) {
				formatNull = true
			} else {
				s, ok := f.(string)
				if !ok {
					return nil, mongoerr.New(40684, "$dateFromString requires that 'format' be a string, found: %s with value %s", typeName(f), render(f))
				}
				if layout, err = goLayout(s); err != nil {
					return nil, err
				}
			}
		}
		loc := time.UTC
		tzNull := false
		if args["timezone"] != nil {
			tz, err := args["timezone"].Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(tz) {
				tzNull = true
			} else {
				s, ok := tz.(string)
				if !ok {
					return nil, mongoerr.New(40517, "timezone must evaluate to a string, found %s", typeName(tz))
				}
				if loc, err = ParseTimeZone(s); err != nil {
					return nil, err
				}
			}
		}
		ds, err := args["dateString"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(ds) {
			if args["onNull"] != nil {
				return args["onNull"].Eval(root, vars)
			}
			return nil, nil
		}
		result, err := func() (any, error) {
			s, ok := ds.(string)
			if !ok {
				return nil, conversionError("$dateFromString requires that 'dateString' be a string, found: %s with value %s", typeName(ds), render(ds))
			}
			if tzNull || formatNull {
				return nil, nil
			}
			if layout == "" {
				for _, l := range dateLayouts {
					if t, err := time.ParseInLocation(l, s, loc); err == nil {
						return bson.NewDateTimeFromTime(t), nil
					}
				}
				return nil, conversionError("Error parsing date string '%s'", s)
			}
			t, err := time.ParseInLocation(layout, s, loc)
			if err != nil {
				return nil, conversionError("Error parsing date string '%s': %v", s, err)
			}
			return bson.NewDateTimeFromTime(t), nil
		}()
		if err != nil {
			if e := mongoerr.As(err); e != nil && e.Code == ConversionFailure && args["onError"] != nil {
				return args["onError"].Eval(root, vars)
			}
			return nil, err
		}
		return result, nil
	}), nil
}

// goLayout translates a $dateFromString format into a Go time layout.
func goLayout(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i+1 >= len(f) {
			return "", mongoerr.New(18535, "Unmatched '%%' at end of format string")
		}
		i++
		switch f[i] {
		case 'Y':
			b.WriteString("2006")
		case 'm':
			b.WriteString("01")
		case 'd':
			b.WriteString("02")
		case 'H':
			b.WriteString("15")
		case 'M':
			b.WriteString("04")
		case 'S':
			b.WriteString("05")
		case 'L':
			b.WriteString("000")
		case 'z':
			b.WriteString("-0700")
		case 'b':
			b.WriteString("Jan")
		case 'B':
			b.WriteString("January")
		case '%':
			b.WriteString("%")
		default:
			return "", mongoerr.New(18536, "Invalid format character '%%%c' in format string", f[i])
		}
	}
	return b.String(), nil
}

// dateLayouts are the ISO-8601 forms accepted without a format.
var dateLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02", "2006-01-02T15:04:05.999999999 MST",
}
