/*-------------------------------------------------------------------------
 *
 * csv_cells.c
 *	  The cells of an uploaded CSV file as spreadsheets write them: pure
 *	  functions of a field's text (trimming, full-width forms, the
 *	  spreadsheet forms of integers and tracking numbers).  No SPI, no
 *	  catalog, no COPY state: the staging (csv_stage.c) calls them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "bulkorder_csv.h"

/* characters of a field kept for messages (column A) or the import (B) */
#define CSV_KEEP_CHARS 200

/* ------------------------------------------------------------------------
 * Field normalisation.  Fields come from COPY in the server encoding; the
 * work is done in UTF-8 (a no-op conversion on a UTF8 database).
 * ------------------------------------------------------------------------
 */

/* bytes of a space at p (ASCII space or tab, U+00A0, U+3000), else 0 */
static inline int
space_len(const unsigned char *p, const unsigned char *end)
{
	if (p < end && (*p == ' ' || *p == '\t'))
		return 1;
	if (end - p >= 2 && p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (end - p >= 3 && p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	return 0;
}

/* bytes of a full-width ASCII form (U+FF01..U+FF5E) at p, its ASCII in *c */
static inline int
fullwidth_len(const unsigned char *p, const unsigned char *end, char *c)
{
	if (end - p >= 3 && p[0] == 0xEF)
	{
		if (p[1] == 0xBC && p[2] >= 0x81 && p[2] <= 0xBF)
		{
			*c = (char) (p[2] - 0x81 + 0x21);	/* U+FF01..U+FF3F */
			return 3;
		}
		if (p[1] == 0xBD && p[2] >= 0x80 && p[2] <= 0x9E)
		{
			*c = (char) (p[2] - 0x80 + 0x60);	/* U+FF40..U+FF5E */
			return 3;
		}
	}
	return 0;
}

static char *
to_utf8(const char *s, int *len)
{
	char	   *u = pg_server_to_any(s, *len, PG_UTF8);

	if (u != s)
		*len = strlen(u);
	return u;
}

/* Trim spaces around [*start, *end). */
static void
trim_spaces(const unsigned char **start, const unsigned char **end)
{
	int			n;

	while (*start < *end && (n = space_len(*start, *end)) > 0)
		*start += n;
	/* trailing: test the three widths that can end at *end */
	for (;;)
	{
		if (*end - *start >= 1 && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
			*end -= 1;
		else if (*end - *start >= 2 && (*end)[-2] == 0xC2 && (*end)[-1] == 0xA0)
			*end -= 2;
		else if (*end - *start >= 3 && (*end)[-3] == 0xE3 && (*end)[-2] == 0x80 && (*end)[-1] == 0x80)
			*end -= 3;
		else
			break;
	}
}

/*
 * A field as UTF-8 with the spaces around it trimmed, in [*start, *end);
 * false when the field is NULL or nothing but spaces.
 */
static bool
trimmed_utf8(const char *field, const unsigned char **start, const unsigned char **end)
{
	int			len;
	char	   *u;

	if (field == NULL)
		return false;
	len = strlen(field);
	u = to_utf8(field, &len);
	*start = (const unsigned char *) u;
	*end = *start + len;
	trim_spaces(start, end);
	return *start < *end;
}

bool
csv_field_is_blank(const char *field)
{
	const unsigned char *p,
			   *end;

	return !trimmed_utf8(field, &p, &end);
}

/* ------------------------------------------------------------------------
 * Cells as spreadsheets write them (README, "Numbers as spreadsheets write
 * them").  Pure functions of a cell's text.
 *
 * A cell is first folded: the spaces around it trimmed, the full-width
 * ASCII forms (１２３ ， ． ＇ ＝ ＂ Ｅ ＋) replaced by ASCII.  Then:
 *
 *  - a formula error (#N/A, #VALUE!, #REF!, #DIV/0!, #NAME?, #NUM!, #NULL!,
 *    the newer #SPILL!, #CALC! and #GETTING_DATA, LibreOffice's Err:nnn) is
 *    reported as such, so that the operator is told to fix the formula;
 *  - one wrapper that makes a cell text is removed: a leading apostrophe
 *    ('118536) or the text formula ="118536".  COPY gives the text formula
 *    as ="118536" when the file quotes the field ("=""118536""") and as
 *    =118536 when the file has it bare (="118536"), since in CSV a quote
 *    may open in the middle of a field and is then dropped.  The bare form
 *    is taken only when what follows "=" is a plain value (letters, digits,
 *    "-", "." and ",", a sign only after E), so that a real formula such
 *    as =A1+1 is never read as its text;
 *  - what is left is read as a number: digits, optionally in thousands
 *    groups (1 to 3 digits not starting with 0, then groups of exactly 3),
 *    then optionally "." and a fraction; or scientific notation: digits,
 *    optionally "." and digits (the mantissa), E or e, an optional sign
 *    and the exponent's digits.
 *
 * Scientific notation is exact only when its mantissa carries every digit
 * of the integer.  With f digits after the point and exponent e, the
 * integer needs e - f digits more than the mantissa wrote: when e > f they
 * are zeros the spreadsheet invented.  A cell holding 118,975 shown as
 * 1.19E+05 (General format, as many digits as fit the column) is saved as
 * 1.19E+05, and nothing in the file says what the digits were: that is
 * SHEET_ROUNDED, never a guess.  1.18521E+05 (f = 5, e = 5) is exactly
 * 118521; when e < f the last f - e digits are a fraction and must be zeros
 * (1.185210E+05 = 118521, 1.185215E+05 is not an integer).
 * ------------------------------------------------------------------------
 */
/*
 * Fold a trimmed UTF-8 cell into out: full-width ASCII forms to ASCII, an
 * ideographic space to a space, every other byte as it is.  Returns true
 * when the result is all ASCII.
 */
static bool
sheet_fold(const unsigned char *p, const unsigned char *end, StringInfo out)
{
	bool		ascii = true;

	while (p < end)
	{
		char		c;
		int			n = fullwidth_len(p, end, &c);

		if (n > 0)
		{
			appendStringInfoChar(out, c);
			p += n;
		}
		else if (p[0] == 0xE3 && end - p >= 3 && p[1] == 0x80 && p[2] == 0x80)
		{
			appendStringInfoChar(out, ' ');
			p += 3;
		}
		else
		{
			ascii &= (*p < 0x80);
			appendStringInfoChar(out, (char) *p++);
		}
	}
	return ascii;
}

/* The error values Excel and LibreOffice write for a failed formula. */
static bool
sheet_is_formula_error(const char *s, int len)
{
	static const char *const errors[] = {
		"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!",
		"#SPILL!", "#CALC!", "#GETTING_DATA"
	};

	for (int i = 0; i < lengthof(errors); i++)
		if (len == strlen(errors[i]) && pg_strncasecmp(s, errors[i], len) == 0)
			return true;
	/* LibreOffice: Err:502 and the like */
	if (len == 7 && pg_strncasecmp(s, "Err:", 4) == 0 &&
		isdigit((unsigned char) s[4]) && isdigit((unsigned char) s[5]) &&
		isdigit((unsigned char) s[6]))
		return true;
	return false;
}

/* letters, digits, "-", "." and ",", and a sign right after E or e */
static bool
sheet_plain_value(const char *s, int len)
{
	if (len == 0)
		return false;
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (isalnum((unsigned char) c) || c == '-' || c == '.' || c == ',')
			continue;
		if (c == '+' && i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e'))
			continue;
		return false;
	}
	return true;
}

/* Drop one text wrapper: a leading apostrophe, or ="..." (see above). */
static void
sheet_unwrap(const char **s, int *len)
{
	const char *v = *s;
	int			n = *len;

	if (n >= 1 && v[0] == '\'')
	{
		*s = v + 1;
		*len = n - 1;
	}
	else if (n >= 3 && v[0] == '=' && v[1] == '"' && v[n - 1] == '"' &&
			 memchr(v + 2, '"', n - 3) == NULL)
	{
		*s = v + 2;
		*len = n - 3;
	}
	else if (n >= 2 && v[0] == '=' && sheet_plain_value(v + 1, n - 1))
	{
		*s = v + 1;
		*len = n - 1;
	}
}

/* Thousands groups of s[0..len): "1,234", "12,345,678"; never "0,123". */
static bool
sheet_groups_ok(const char *s, int len)
{
	int			first = 0;

	while (first < len && s[first] != ',')
		first++;
	if (first < 1 || first > 3 || s[0] == '0')
		return false;
	for (int i = first; i < len; i += 4)
	{
		if (len - i < 4 || s[i] != ',' ||
			!isdigit((unsigned char) s[i + 1]) || !isdigit((unsigned char) s[i + 2]) ||
			!isdigit((unsigned char) s[i + 3]))
			return false;
	}
	return true;
}

/*
 * Read s[0..len) as a number.  SHEET_INTEGER leaves the integer's digits
 * (leading zeros kept) in digits; *scientific tells whether the cell was a
 * well-formed number in scientific notation, exact or not.
 */
static SheetKind
sheet_number(const char *s, int len, StringInfo digits, bool *scientific)
{
	int			i = 0;
	int			int_end;
	int			frac_start = 0;
	int			frac_len = 0;
	bool		commas = false;
	bool		point = false;
	bool		sci = false;
	int			exponent = 0;

	*scientific = false;
	resetStringInfo(digits);
	while (i < len && (isdigit((unsigned char) s[i]) || s[i] == ','))
		commas |= (s[i++] == ',');
	int_end = i;
	if (i < len && s[i] == '.')
	{
		point = true;
		frac_start = ++i;
		while (i < len && isdigit((unsigned char) s[i]))
			i++;
		frac_len = i - frac_start;
	}
	if (i < len && (s[i] == 'E' || s[i] == 'e') && !commas && int_end > 0)
	{
		bool		negative = false;
		int			exp_start;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			negative = (s[i++] == '-');
		exp_start = i;
		while (i < len && isdigit((unsigned char) s[i]))
		{
			if (exponent < 100000)	/* far beyond any bigint; no overflow */
				exponent = exponent * 10 + (s[i] - '0');
			i++;
		}
		if (i == exp_start)
			return SHEET_TEXT;
		if (negative)
			exponent = -exponent;
		sci = true;
	}
	if (i != len || int_end == 0 || (point && frac_len == 0))
		return SHEET_TEXT;

	if (sci)
	{
		/* the mantissa's digits are s[0..int_end) then the fraction's */
		int			ndigits = int_end + frac_len;
		int			keep = int_end + exponent;	/* the integer's digits */

		*scientific = true;
		if (exponent > frac_len)
			return SHEET_ROUNDED;
		for (int k = 0; k < ndigits; k++)
		{
			char		c = k < int_end ? s[k] : s[frac_start + k - int_end];

			if (k < keep)
				appendStringInfoChar(digits, c);
			else if (c != '0')
				return SHEET_FRACTION;
		}
		if (digits->len == 0)
			appendStringInfoChar(digits, '0');
		return SHEET_INTEGER;
	}

	if (commas && !sheet_groups_ok(s, int_end))
		return SHEET_BAD_GROUPING;
	for (int k = frac_start; k < frac_start + frac_len; k++)
		if (s[k] != '0')
			return SHEET_FRACTION;
	for (int k = 0; k < int_end; k++)
		if (s[k] != ',')
			appendStringInfoChar(digits, s[k]);
	return SHEET_INTEGER;
}

/* Decimal digits as a bigint; false beyond it. */
static bool
sheet_digits_to_int64(const char *d, int len, int64 *value)
{
	uint64		v = 0;

	if (len == 0)
		return false;
	for (int i = 0; i < len; i++)
	{
		int			digit = d[i] - '0';

		if (v > ((uint64) PG_INT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*value = (int64) v;
	return true;
}

/*
 * A folded cell read as a number: SHEET_FORMULA_ERROR for a formula error,
 * else sheet_number of what is left once its text wrapper is dropped (*s
 * and *len then point past the wrapper).  digits is initialised here; the
 * caller frees its data.
 */
static SheetKind
sheet_cell(const char **s, int *len, StringInfo digits, bool *scientific)
{
	initStringInfo(digits);
	*scientific = false;
	if (sheet_is_formula_error(*s, *len))
		return SHEET_FORMULA_ERROR;
	sheet_unwrap(s, len);
	return sheet_number(*s, *len, digits, scientific);
}

/*
 * A folded key cell (column A): SHEET_INTEGER with *key set, or why it is
 * none.  An integer beyond bigint is text (not a number).
 */
static SheetKind
sheet_key(const char *s, int len, int64 *key)
{
	StringInfoData digits;
	bool		scientific;
	SheetKind	kind = sheet_cell(&s, &len, &digits, &scientific);

	if (kind == SHEET_INTEGER && !sheet_digits_to_int64(digits.data, digits.len, key))
		kind = SHEET_TEXT;
	pfree(digits.data);
	return kind;
}

/*
 * A folded tracking number cell (column B of the import): the tracking
 * number, or NULL when there is none (empty, or a formula error: the lookup
 * that should have given it failed).  *rounded when it is in scientific
 * notation, exact or not: a tracking number is an identifier of 10 to 14
 * digits that a spreadsheet writes in scientific notation only once it has
 * turned it into a number, which drops its leading zeros, and Excel keeps 6
 * significant digits of a 12-digit number in General format.  A number in
 * thousands groups or with a zero fraction is its digits; anything else is
 * kept as written, without its text wrapper.
 */
static char *
sheet_tracking_no(const char *s, int len, bool *rounded)
{
	StringInfoData digits;
	bool		scientific;
	SheetKind	kind = sheet_cell(&s, &len, &digits, &scientific);

	/* scientific notation, exact or not: kept as written, and rounded */
	*rounded = scientific;
	if (kind == SHEET_INTEGER && !scientific)
		return digits.data;
	pfree(digits.data);
	/* a formula error, or nothing inside the wrapper: no tracking number */
	if (kind == SHEET_FORMULA_ERROR || len == 0)
		return NULL;
	return pnstrdup(s, len);
}

/* The likely spreadsheet cause of a not_a_number, as upload_lines.cause. */
const char *
csv_sheet_cause(SheetKind kind)
{
	switch (kind)
	{
		case SHEET_FRACTION:
			return "fraction";
		case SHEET_BAD_GROUPING:
			return "grouping";
		case SHEET_FORMULA_ERROR:
			return "formula_error";
		default:
			return NULL;
	}
}

/* ------------------------------------------------------------------------
 * Columns A and B of a record, as COPY gives them
 * ------------------------------------------------------------------------
 */

/*
 * Column A as a key: SHEET_INTEGER with *key set, else what it is.  Plain
 * digits (ASCII or full-width), the common case, are read without folding.
 */
SheetKind
csv_parse_key(const char *field, int64 *key)
{
	const unsigned char *p,
			   *end;
	const unsigned char *start;
	uint64		value = 0;
	StringInfoData buf;

	if (!trimmed_utf8(field, &p, &end))
		return SHEET_TEXT;
	start = p;
	while (p < end)
	{
		char		c = *p;
		int			n = 1;

		if (*p >= 0x80)
			n = fullwidth_len(p, end, &c);
		if (n == 0 || c < '0' || c > '9')
			break;
		if (value > ((uint64) PG_INT64_MAX - (c - '0')) / 10)
			return SHEET_TEXT;	/* beyond bigint */
		value = value * 10 + (c - '0');
		p += n;
	}
	if (p == end)
	{
		*key = (int64) value;
		return SHEET_INTEGER;
	}

	initStringInfo(&buf);
	if (!sheet_fold(start, end, &buf))
		return SHEET_TEXT;		/* more than ASCII and its full-width forms */
	return sheet_key(buf.data, buf.len, key);
}

/* Keep at most CSV_KEEP_CHARS characters of a server-encoded string. */
static char *
clip_chars(const char *s, int len)
{
	int			keep = pg_mbcharcliplen(s, len, CSV_KEEP_CHARS);

	return pnstrdup(s, keep);
}

/* Column A as written, spaces trimmed, for the message of its error. */
char *
csv_field_display(const char *field)
{
	const unsigned char *p,
			   *end;
	char	   *server;

	if (!trimmed_utf8(field, &p, &end))
		return NULL;
	server = pg_any_to_server((const char *) p, end - p, PG_UTF8);
	return clip_chars(server, strlen(server));
}

/*
 * Column B as a tracking number: full-width letters, digits and signs
 * folded to ASCII, spaces around dropped, then read as a spreadsheet cell
 * (sheet_tracking_no); NULL when there is none.  A rounded one is returned
 * as written, with *rounded set.
 */
char *
csv_tracking_no(const char *field, bool *rounded)
{
	const unsigned char *p,
			   *end;
	char	   *tracking;
	char	   *server;
	StringInfoData buf;

	*rounded = false;
	if (!trimmed_utf8(field, &p, &end))
		return NULL;
	initStringInfo(&buf);
	sheet_fold(p, end, &buf);
	tracking = sheet_tracking_no(buf.data, buf.len, rounded);
	if (tracking == NULL)
		return NULL;
	server = pg_any_to_server(tracking, strlen(tracking), PG_UTF8);
	return clip_chars(server, strlen(server));
}
