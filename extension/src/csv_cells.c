/*-------------------------------------------------------------------------
 *
 * csv_cells.c
 *	  The cells of an uploaded CSV file as spreadsheets write them: pure
 *	  functions of a field's text (trimming, full-width forms, the
 *	  spreadsheet forms of integers and tracking numbers, and the formats
 *	  carriers issue tracking numbers in).  No SPI, no catalog, no COPY
 *	  state: the staging (csv_stage.c) and the SQL functions of csv.c call
 *	  them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/unicode_norm.h"
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

/*
 * Bytes of a character trimmed around every cell at p, else 0: the spaces
 * (ASCII space and tab, U+00A0, U+3000), line breaks (a cell's own, from
 * Alt+Enter or a pasted value) and the invisible characters a sheet picks
 * up from pasted text: U+FEFF (a BOM), U+200B..U+200D (zero-width space,
 * non-joiner, joiner) and U+2060 (word joiner).  None of them is ever part
 * of a key or a tracking number, and an operator cannot see them.
 */
static inline int
space_len(const unsigned char *p, const unsigned char *end)
{
	if (p >= end)
		return 0;
	if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		return 1;
	if (end - p >= 2 && p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (end - p >= 3)
	{
		if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
			return 3;			/* U+3000 */
		if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
			return 3;			/* U+FEFF */
		if (p[0] == 0xE2 && p[1] == 0x80 && p[2] >= 0x8B && p[2] <= 0x8D)
			return 3;			/* U+200B..U+200D */
		if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0xA0)
			return 3;			/* U+2060 */
	}
	return 0;
}

/*
 * Bytes of a dash look-alike at p, else 0: U+2010..U+2015 (hyphen,
 * non-breaking hyphen, figure dash, en dash, em dash, horizontal bar),
 * U+2212 (minus sign), U+30FC (ー) and U+FF70 (ｰ).  Spreadsheets and IMEs
 * put them where "-" was meant, and the encodings disagree: U+2212 in a
 * UTF-8 file is 0x817C in Shift_JIS, which reads back as U+FF0D.
 */
static inline int
dash_len(const unsigned char *p, const unsigned char *end)
{
	if (end - p < 3)
		return 0;
	if (p[0] == 0xE2 && p[1] == 0x80 && p[2] >= 0x90 && p[2] <= 0x95)
		return 3;
	if (p[0] == 0xE2 && p[1] == 0x88 && p[2] == 0x92)
		return 3;
	if (p[0] == 0xE3 && p[1] == 0x83 && p[2] == 0xBC)
		return 3;
	if (p[0] == 0xEF && p[1] == 0xBD && p[2] == 0xB0)
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

/* Trim spaces (space_len) around [*start, *end). */
static void
trim_spaces(const unsigned char **start, const unsigned char **end)
{
	int			n;

	while (*start < *end && (n = space_len(*start, *end)) > 0)
		*start += n;
	/* trailing: a character of 1, 2 or 3 bytes that ends at *end */
	for (;;)
	{
		int			w;

		for (w = 1; w <= 3; w++)
			if (*end - *start >= w && space_len(*end - w, *end) == w)
				break;
		if (w > 3)
			break;
		*end -= w;
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

/*
 * Whether a field could be part of a number: it holds a digit (ASCII or
 * full-width) or a "#" (a formula error's).  A column name has neither.
 */
bool
csv_field_numberish(const char *field)
{
	const unsigned char *p,
			   *end;

	if (!trimmed_utf8(field, &p, &end))
		return false;
	for (; p < end; p++)
	{
		if ((*p >= '0' && *p <= '9') || *p == '#')
			return true;
		/* U+FF10..U+FF19, U+FF03 */
		if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBC &&
			((p[2] >= 0x90 && p[2] <= 0x99) || p[2] == 0x83))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Cells as spreadsheets write them (README, "Numbers as spreadsheets write
 * them").  Pure functions of a cell's text.
 *
 * A cell is first folded: the spaces around it trimmed (space_len), the
 * full-width ASCII forms (１２３ ， ． ＇ ＝ ＂ Ｅ ＋) replaced by ASCII, every
 * dash look-alike (dash_len) by "-", ￥ by ¥.  Then:
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
 *    as =A1+1 is never read as its text.  Nothing inside the wrapper ('',
 *    ="", or "=" alone) is an empty cell;
 *  - what is left and begins with "=", "+" or "@" is a formula written
 *    instead of its value (LibreOffice's "save cell formulas", or a cell
 *    typed as text): SHEET_FORMULA;
 *  - else it is read as a number: digits, optionally in thousands groups
 *    (1 to 3 digits not starting with 0, then groups of exactly 3), then
 *    optionally "." and a fraction; or scientific notation: digits,
 *    optionally "." and digits (the mantissa), E or e, an optional sign and
 *    the exponent's digits.  A decimal comma (a locale that writes one) is
 *    recognised only to name a cell's cause: the one comma, followed by the
 *    mantissa of scientific notation (2,34568E+11) or by other than three
 *    digits (23456789015,9); a zero fraction after it (118501,00) is never
 *    read as an integer, but is a comma out of place;
 *  - a number inside what a number format writes around it is refused by
 *    its cause: a sign or an accounting negative (-1, 1-, ▲1, △1, (1)) is
 *    SHEET_NEGATIVE, a currency sign (¥ \ $) or one character of unit after
 *    it (118,519番, 118,520円) SHEET_CURRENCY;
 *  - text that is a number followed by a tab or a semicolon is a line of a
 *    file saved with another separator (SHEET_SEPARATOR), and digits with
 *    "?" are digits whose neighbour Shift_JIS could not hold (a no-break or
 *    zero-width space: LibreOffice writes "?" for it) (SHEET_REPLACED).
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

static inline bool
ascii_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
ascii_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * Fold a trimmed UTF-8 cell into out: full-width ASCII forms to ASCII, an
 * ideographic or no-break space to a space, a dash look-alike to "-", ￥
 * (U+FFE5) to ¥ (U+00A5), every other byte as it is.
 */
static void
sheet_fold(const unsigned char *p, const unsigned char *end, StringInfo out)
{
	while (p < end)
	{
		char		c;
		int			n = fullwidth_len(p, end, &c);

		if (n > 0)
			appendStringInfoChar(out, c);
		else if ((n = dash_len(p, end)) > 0)
			appendStringInfoChar(out, '-');
		else if (end - p >= 3 && p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		{
			appendStringInfoChar(out, ' ');
			n = 3;
		}
		else if (end - p >= 2 && p[0] == 0xC2 && p[1] == 0xA0)
		{
			appendStringInfoChar(out, ' ');
			n = 2;
		}
		else if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xA5)
		{
			appendBinaryStringInfo(out, "\xC2\xA5", 2);
			n = 3;
		}
		else
		{
			appendStringInfoChar(out, (char) *p);
			n = 1;
		}
		p += n;
	}
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
	int			commas = 0;
	int			last_comma = -1;
	bool		point = false;
	bool		decimal_comma = false;
	bool		sci = false;
	int			exponent = 0;

	*scientific = false;
	resetStringInfo(digits);
	while (i < len && (isdigit((unsigned char) s[i]) || s[i] == ','))
	{
		if (s[i] == ',')
		{
			commas++;
			last_comma = i;
		}
		i++;
	}
	int_end = i;

	/*
	 * A decimal comma: the only comma, after a digit, followed by digits to
	 * the end (not three of them, which would be a thousands group) or to the
	 * exponent of scientific notation.
	 */
	if (commas == 1 && last_comma > 0 && i - last_comma - 1 > 0 &&
		(i == len ? i - last_comma - 1 != 3 : (s[i] == 'E' || s[i] == 'e')))
	{
		decimal_comma = point = true;
		frac_start = last_comma + 1;
		frac_len = i - frac_start;
		int_end = last_comma;
	}
	else if (i < len && s[i] == '.')
	{
		point = true;
		frac_start = ++i;
		while (i < len && isdigit((unsigned char) s[i]))
			i++;
		frac_len = i - frac_start;
	}
	if (i < len && (s[i] == 'E' || s[i] == 'e') && (commas == 0 || decimal_comma) && int_end > 0)
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

	if (commas > 0 && !decimal_comma && !sheet_groups_ok(s, int_end))
		return SHEET_BAD_GROUPING;
	for (int k = frac_start; k < frac_start + frac_len; k++)
		if (s[k] != '0')
			return SHEET_FRACTION;
	/* 118501,00: a comma out of place, never read as an integer */
	if (decimal_comma)
		return SHEET_BAD_GROUPING;
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
 * What a number format writes around a number (see above): the number's
 * cause, SHEET_NEGATIVE or SHEET_CURRENCY, when s[0..len) is a number in
 * such decorations, else SHEET_TEXT.  A currency or unit wins over a sign:
 * the column's format is what the operator changes.
 */
static SheetKind
sheet_decorated(const char *s, int len, StringInfo digits)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *e = p + len;
	bool		negative = false;
	bool		currency = false;
	bool		unit = false;
	bool		scientific;

	for (;;)
	{
		while (p < e && *p == ' ')
			p++;
		while (e > p && e[-1] == ' ')
			e--;
		if (p >= e)
			break;
		if (!negative && *p == '-')
		{
			negative = true;
			p++;
		}
		else if (!negative && *p == '(' && e[-1] == ')' && e - p >= 2)
		{
			negative = true;
			p++;
			e--;
		}
		else if (!negative && e - p >= 3 && p[0] == 0xE2 && p[1] == 0x96 &&
				 (p[2] == 0xB2 || p[2] == 0xB3))
		{
			negative = true;	/* ▲ or △ */
			p += 3;
		}
		else if (!currency && (*p == '\\' || *p == '$'))
		{
			currency = true;
			p++;
		}
		else if (!currency && e - p >= 2 && p[0] == 0xC2 && p[1] == 0xA5)
		{
			currency = true;	/* ¥ */
			p += 2;
		}
		else if (!negative && e[-1] == '-')
		{
			negative = true;
			e--;
		}
		else if (!unit && e[-1] >= 0x80)
		{
			/* one character after the number: a unit (番, 円, 個) */
			const unsigned char *c = e - 1;
			const unsigned char *d;

			while (c > p && (*c & 0xC0) == 0x80)
				c--;
			for (d = c; d > p && d[-1] == ' '; d--)
				;
			if (d == p || !ascii_digit((char) d[-1]))
				break;
			unit = true;
			e = c;
		}
		else
			break;
	}
	if (!(negative || currency || unit) || p >= e ||
		sheet_number((const char *) p, e - p, digits, &scientific) == SHEET_TEXT)
		return SHEET_TEXT;
	resetStringInfo(digits);
	return (currency || unit) ? SHEET_CURRENCY : SHEET_NEGATIVE;
}

/*
 * Text that is none of the number's forms, and yet numbers: a number, then
 * a tab or a semicolon (a line of a file saved with another separator); or
 * digits and "?" (a character lost to Shift_JIS).
 */
static SheetKind
sheet_text_kind(const char *s, int len)
{
	int			i = 0;
	bool		digit = false;
	bool		question = false;

	while (i < len && (ascii_digit(s[i]) || s[i] == ',' || s[i] == '.'))
		digit |= ascii_digit(s[i++]);
	if (digit && i < len && (s[i] == '\t' || s[i] == ';'))
		return SHEET_SEPARATOR;
	for (i = 0; i < len; i++)
	{
		if (ascii_digit(s[i]))
			digit = true;
		else if (s[i] == '?')
			question = true;
		else if (s[i] != '-' && s[i] != ',' && s[i] != '.' && s[i] != ' ')
			return SHEET_TEXT;
	}
	return (digit && question) ? SHEET_REPLACED : SHEET_TEXT;
}

/*
 * A folded cell read as a spreadsheet writes it (see above): what it is,
 * *s and *len then pointing past its text wrapper.  digits is initialised
 * here (a SHEET_INTEGER's digits); the caller frees its data.
 */
static SheetKind
sheet_cell(const char **s, int *len, StringInfo digits, bool *scientific)
{
	SheetKind	kind;

	initStringInfo(digits);
	*scientific = false;
	if (sheet_is_formula_error(*s, *len))
		return SHEET_FORMULA_ERROR;
	sheet_unwrap(s, len);
	if (*len == 0 || (*len == 1 && (*s)[0] == '='))
		return SHEET_EMPTY;
	if ((*s)[0] == '=' || (*s)[0] == '+' || (*s)[0] == '@')
		return SHEET_FORMULA;
	kind = sheet_number(*s, *len, digits, scientific);
	if (kind == SHEET_TEXT)
		kind = sheet_decorated(*s, *len, digits);
	if (kind == SHEET_TEXT)
		kind = sheet_text_kind(*s, *len);
	return kind;
}

/*
 * A folded key cell (column A): SHEET_INTEGER with *key set, or why it is
 * none.
 */
static SheetKind
sheet_key(const char *s, int len, int64 *key)
{
	StringInfoData digits;
	bool		scientific;
	SheetKind	kind = sheet_cell(&s, &len, &digits, &scientific);

	if (kind == SHEET_INTEGER && !sheet_digits_to_int64(digits.data, digits.len, key))
		kind = SHEET_OUT_OF_RANGE;
	pfree(digits.data);
	return kind;
}

/*
 * A folded tracking number cell (column B of the import): the tracking
 * number, or NULL when there is none (empty, "=" alone, or a formula error:
 * the lookup that should have given it failed).  A cell refused for what
 * the spreadsheet did to it sets *refusal to its error code and is
 * returned as written (without its text wrapper), for the message:
 *
 *  - rounded_number: any scientific notation, exact or not.  A tracking
 *    number is an identifier of 10 to 14 digits that a spreadsheet writes
 *    in scientific notation only once it has turned it into a number, which
 *    drops its leading zeros, and Excel keeps 6 significant digits of a
 *    12-digit number in General format;
 *  - not_an_integer, negative_number, currency_format, formula_text: a
 *    number with a fraction (23456789015.9: a digit was lost), a negative
 *    number, a currency or unit format, a formula written as text.
 *
 * A number in thousands groups or with a zero fraction is its digits;
 * anything else is text, kept as folded for the carrier's format to judge
 * (csv_tracking_check).
 */
static char *
sheet_tracking_no(const char *s, int len, const char **refusal)
{
	StringInfoData digits;
	bool		scientific;
	SheetKind	kind = sheet_cell(&s, &len, &digits, &scientific);

	*refusal = NULL;
	switch (kind)
	{
		case SHEET_EMPTY:
		case SHEET_FORMULA_ERROR:
			pfree(digits.data);
			return NULL;
		case SHEET_INTEGER:
		case SHEET_FRACTION:
		case SHEET_ROUNDED:
			if (scientific)
				*refusal = "rounded_number";
			else if (kind == SHEET_INTEGER)
				return digits.data;
			else
				*refusal = csv_sheet_code(kind);
			break;
		case SHEET_NEGATIVE:
		case SHEET_CURRENCY:
		case SHEET_FORMULA:
			*refusal = csv_sheet_code(kind);
			break;
		default:
			break;
	}
	pfree(digits.data);
	return pnstrdup(s, len);
}

/* The error code of a line whose column A is kind (not SHEET_INTEGER). */
const char *
csv_sheet_code(SheetKind kind)
{
	switch (kind)
	{
		case SHEET_ROUNDED:
			return "rounded_number";
		case SHEET_FRACTION:
			return "not_an_integer";
		case SHEET_NEGATIVE:
			return "negative_number";
		case SHEET_CURRENCY:
			return "currency_format";
		case SHEET_FORMULA:
			return "formula_text";
		default:
			return "not_a_number";
	}
}

/* The likely cause of a not_a_number, as upload_lines.cause. */
const char *
csv_sheet_cause(SheetKind kind)
{
	switch (kind)
	{
		case SHEET_BAD_GROUPING:
			return "grouping";
		case SHEET_FORMULA_ERROR:
			return "formula_error";
		case SHEET_OUT_OF_RANGE:
			return "out_of_range";
		case SHEET_SEPARATOR:
			return "separator";
		case SHEET_REPLACED:
			return "question_mark";
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
			return SHEET_OUT_OF_RANGE;
		value = value * 10 + (c - '0');
		p += n;
	}
	if (p == end)
	{
		*key = (int64) value;
		return SHEET_INTEGER;
	}

	initStringInfo(&buf);
	sheet_fold(start, end, &buf);
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
 * NFKC of a UTF-8 string, when that is all ASCII (every tracking number
 * carriers issue is); else NULL, and the caller keeps the string as it is.
 * A character NFKC leaves outside ASCII makes the cell no tracking number
 * whatever the rest, and it is shown to the operator as written.  Never
 * producing anything but ASCII also means that the result converts to any
 * database encoding.
 */
static char *
nfkc_ascii(const char *s, int len, int *outlen)
{
	pg_wchar   *wide = palloc((len + 1) * sizeof(pg_wchar));
	int			n = pg_encoding_mb2wchar_with_len(PG_UTF8, s, wide, len);
	pg_wchar   *norm;
	char	   *out;
	int			i;

	wide[n] = 0;
	norm = unicode_normalize(UNICODE_NFKC, wide);
	for (i = 0; norm[i] != 0; i++)
		if (norm[i] >= 0x80)
			return NULL;
	out = palloc(i + 1);
	for (i = 0; norm[i] != 0; i++)
		out[i] = (char) norm[i];
	out[i] = '\0';
	*outlen = i;
	return out;
}

/*
 * Column B as a tracking number (SPEC §5, "Tracking numbers as carriers
 * issue them"): spaces, line breaks and invisible characters around it
 * dropped, full-width forms and dash look-alikes folded to ASCII (and NFKC,
 * for the full-width forms outside ASCII's block), then read as a
 * spreadsheet cell (sheet_tracking_no).  NULL when there is none.  A cell
 * refused for what the spreadsheet did to it is returned as written, with
 * *refusal its error code; the carrier's format is judged later, by
 * csv_tracking_check, against the order's delivery method.  The result
 * depends only on the characters of the cell, never on the file's
 * encoding: the same sheet gives the same tracking number from UTF-8 and
 * from Shift_JIS.
 */
char *
csv_tracking_no(const char *field, const char **refusal)
{
	const unsigned char *p,
			   *end;
	char	   *tracking;
	char	   *server;
	StringInfoData buf;

	*refusal = NULL;
	if (!trimmed_utf8(field, &p, &end))
		return NULL;
	initStringInfo(&buf);
	sheet_fold(p, end, &buf);
	for (int i = 0; i < buf.len; i++)
	{
		if ((unsigned char) buf.data[i] >= 0x80)
		{
			int			len;
			char	   *ascii = nfkc_ascii(buf.data, buf.len, &len);

			if (ascii != NULL)
			{
				/* NFKC may leave spaces at an end (U+2003 and the like) */
				p = (const unsigned char *) ascii;
				end = p + len;
				trim_spaces(&p, &end);
				if (p == end)
					return NULL;
				resetStringInfo(&buf);
				appendBinaryStringInfo(&buf, (const char *) p, end - p);
			}
			break;
		}
	}
	tracking = sheet_tracking_no(buf.data, buf.len, refusal);
	if (tracking == NULL)
		return NULL;
	server = pg_any_to_server(tracking, strlen(tracking), PG_UTF8);
	return clip_chars(server, strlen(server));
}

/* ------------------------------------------------------------------------
 * Tracking numbers as carriers issue them (delivery_methods.tracking_format)
 *
 *  jp12  ヤマト運輸, 佐川急便, 日本郵便 (ゆうパック, ゆうパケット), ネコポス:
 *        12 digits, grouped 4-4-4 by "-" or spaces, or not at all; the last
 *        digit is the first eleven, taken as a number, modulo 7 (the
 *        carriers' 7DR check digit: it catches a lost or rounded digit and
 *        most typos).  Canonical: the 12 digits.
 *  s10   UPU S10 (EMS and other international mail, EJ123456785JP): two
 *        letters, eight digits, their check digit, two letters.  The check
 *        digit is 11 minus the sum of the digits weighted 8 6 4 2 3 5 9 7,
 *        modulo 11; 10 gives 0 and 11 gives 5.  Spaces inside are dropped
 *        (labels print it as EJ 123 456 785 JP).  Canonical: upper case.
 *  text  any other carrier: 1 to 40 letters, digits and "-", spaces inside
 *        dropped.
 *
 * A tracking number comes here normalised (csv_tracking_no): ASCII when it
 * can be one.  The problem is the first of: "character" (a character the
 * format does not allow, or a separator out of place), "length" (too few
 * or too many characters: a leading zero the spreadsheet dropped, digits it
 * added), "check_digit".
 * ------------------------------------------------------------------------
 */

static const char *
check_jp12(const char *t, int len, StringInfo out)
{
	int			i = 0;
	int			separators = 0;
	int64		first11 = 0;

	for (int k = 0; k < len; k++)
	{
		if (ascii_digit(t[k]))
			appendStringInfoChar(out, t[k]);
		else if (t[k] != '-' && t[k] != ' ')
			return "character";
	}
	if (out->len != 12)
		return "length";
	/* 4-4-4: between the groups one "-" or a run of spaces, both or none */
	for (int g = 0; g < 3; g++)
	{
		if (g > 0)
		{
			int			start = i;

			if (i < len && t[i] == '-')
				i++;
			else
				while (i < len && t[i] == ' ')
					i++;
			separators += (i > start);
		}
		for (int k = 0; k < 4; k++, i++)
			if (i >= len || !ascii_digit(t[i]))
				return "character";
	}
	if (i != len || separators == 1)
		return "character";
	for (int k = 0; k < 11; k++)
		first11 = first11 * 10 + (out->data[k] - '0');
	if (first11 % 7 != out->data[11] - '0')
		return "check_digit";
	return NULL;
}

static const char *
check_s10(const char *t, int len, StringInfo out)
{
	static const int weights[8] = {8, 6, 4, 2, 3, 5, 9, 7};
	int			sum = 0;
	int			check;

	for (int k = 0; k < len; k++)
	{
		if (ascii_digit(t[k]) || ascii_letter(t[k]))
			appendStringInfoChar(out, pg_ascii_toupper((unsigned char) t[k]));
		else if (t[k] != ' ')
			return "character";
	}
	if (out->len != 13)
		return "length";
	for (int k = 0; k < 13; k++)
		if ((k < 2 || k > 10) ? !ascii_letter(out->data[k]) : !ascii_digit(out->data[k]))
			return "character";
	for (int k = 0; k < 8; k++)
		sum += (out->data[2 + k] - '0') * weights[k];
	check = 11 - sum % 11;
	if (check == 10)
		check = 0;
	else if (check == 11)
		check = 5;
	if (check != out->data[10] - '0')
		return "check_digit";
	return NULL;
}

static const char *
check_text(const char *t, int len, StringInfo out)
{
	bool		alnum = false;

	for (int k = 0; k < len; k++)
	{
		if (ascii_digit(t[k]) || ascii_letter(t[k]))
			alnum = true;
		else if (t[k] == ' ')
			continue;
		else if (t[k] != '-')
			return "character";
		appendStringInfoChar(out, t[k]);
	}
	if (out->len == 0 || out->len > 40)
		return "length";
	if (!alnum)
		return "character";
	return NULL;
}

/*
 * Check tracking[0..len) against the carrier's format: NULL when it is a
 * tracking number of that format, with its canonical form in canonical;
 * else the problem ("character", "length", "check_digit").
 */
const char *
csv_tracking_check(const char *format, const char *tracking, int len, StringInfo canonical)
{
	const char *problem;

	resetStringInfo(canonical);
	if (strcmp(format, "jp12") == 0)
		problem = check_jp12(tracking, len, canonical);
	else if (strcmp(format, "s10") == 0)
		problem = check_s10(tracking, len, canonical);
	else if (strcmp(format, "text") == 0)
		problem = check_text(tracking, len, canonical);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown tracking number format \"%s\"", format),
				 errhint("The formats are jp12, s10 and text (bulkorder.delivery_methods.tracking_format).")));
	return problem;
}
