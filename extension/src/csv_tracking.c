/*-------------------------------------------------------------------------
 *
 * csv_tracking.c
 *	  Tracking numbers as carriers issue them
 *	  (delivery_methods.tracking_format): the shipment import's check of
 *	  column B against the order's carrier, and its canonical form.
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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "bulkorder_csv.h"

static inline bool
ascii_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static const char *
check_jp12(const char *t, int len, StringInfo out)
{
	int			i = 0;
	int			separators = 0;
	int64		first11 = 0;

	for (int k = 0; k < len; k++)
	{
		if (ascii_digit(t[k]))
			appendStringInfoCharMacro(out, t[k]);
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
			appendStringInfoCharMacro(out, pg_ascii_toupper((unsigned char) t[k]));
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
		appendStringInfoCharMacro(out, t[k]);
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
				 bulk_errhint(BMSG_TRACKING_FORMATS, NULL)));
	return problem;
}
