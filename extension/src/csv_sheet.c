/*-------------------------------------------------------------------------
 *
 * csv_sheet.c
 *	  A cell as spreadsheets write it (docs/csv.md): a pure function of a
 *	  cell's text, for column A (a key) and column B (a tracking number) of
 *	  an upload (csv_cells.c).
 *
 * A cell is first folded: the spaces around it trimmed (csv_cells.c), the
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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "bulkorder_csv.h"

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

/*
 * Fold a trimmed UTF-8 cell into out: full-width ASCII forms to ASCII, an
 * ideographic or no-break space to a space, a dash look-alike to "-", ￥
 * (U+FFE5) to ¥ (U+00A5), every other byte as it is.
 */
void
csv_sheet_fold(const unsigned char *p, const unsigned char *end, StringInfo out)
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
SheetKind
csv_sheet_key(const char *s, int len, int64 *key)
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
char *
csv_sheet_tracking_no(const char *s, int len, const char **refusal)
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
