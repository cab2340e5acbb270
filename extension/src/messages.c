/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  Every text bulkorder shows an operator, in Japanese and English: the
 *	  details and hints of its errors, the messages of a job's items, its
 *	  notifications, the lines of upload_errors.
 *
 * One table (message_table.c), keyed by a BulkMsg id, so that a translation
 * is reviewed in one place and a call site stays one line.  The C code reads
 * it through bulk_errdetail(), bulk_errhint() and bulk_message(); the SQL
 * code (the PL/pgSQL functions, RAISE ... USING DETAIL/HINT) through
 * bulkorder_catalog.message('X', ...), the entry BMSG_X.  A text is in
 * bulkorder.language; its %1$s, %2$s, ... are filled with the call's
 * arguments, strings (numbers formatted by the caller).
 *
 * What is not here, and why:
 * - errmsg: English, as PostgreSQL's own errors are (clients and logs
 *	 match on it); its errdetail and errhint follow bulkorder.language;
 * - the server log's lines (LOG and WARNING of the launcher and the job
 *	 workers), English as PostgreSQL's own log, and elog() of what cannot
 *	 happen;
 * - what a catalogue declares (rules' message_ja / message_en, whole-call
 *	 checks' hint / hint_ja, an irreversible operation's reason): the
 *	 declaration's own texts, in the catalogue.
 *
 * An entry without English text adds nothing in English (the errmsg says
 * it all); every entry has Japanese text, so an operator working in
 * Japanese always gets a sentence of their own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_message);

/*
 * The text of one message in the session's language, its %n$s
 * placeholders filled with the given strings; NULL when the language has
 * none.  Arguments are strings (callers format numbers first), which keeps
 * every entry's placeholders of one kind and reorderable by a translator.
 */
static char *
message_text(BulkMsg id, int nargs, const char *const *args)
{
	const char *fmt;
	StringInfoData buf;

	fmt = bulk_message_format(id, bulkorder_language == BULK_LANG_EN);
	if (fmt == NULL)
		return NULL;

	initStringInfo(&buf);
	for (const char *p = fmt; *p; p++)
	{
		int			n;

		/* "%N$s", N from 1 to 9: the Nth argument */
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '9' && p[2] == '$' && p[3] == 's')
		{
			n = p[1] - '1';
			appendStringInfoString(&buf, n < nargs && args[n] ? args[n] : "");
			p += 3;
		}
		else
			appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

int
bulk_errdetail_args(BulkMsg id, int nargs, const char *const *args)
{
	char	   *s = message_text(id, nargs, args);

	return s ? errdetail("%s", s) : 0;
}

int
bulk_errhint_args(BulkMsg id, int nargs, const char *const *args)
{
	char	   *s = message_text(id, nargs, args);

	return s ? errhint("%s", s) : 0;
}

/* The text alone (for a caller that builds its own message), or NULL. */
char *
bulk_message_args(BulkMsg id, int nargs, const char *const *args)
{
	return message_text(id, nargs, args);
}

/* The id of the entry SQL names name (the id without BMSG_). */
BulkMsg
bulk_message_id(const char *name)
{
	for (int i = 0; i < BMSG_COUNT; i++)
		if (bulk_message_name((BulkMsg) i) &&
			strcmp(bulk_message_name((BulkMsg) i) + strlen("BMSG_"), name) == 0)
			return (BulkMsg) i;
	elog(ERROR, "bulkorder: no message \"%s\" in messages.c", name);
	return BMSG_COUNT;			/* keep the compiler quiet */
}

/*
 * bulkorder_catalog.message(name text, VARIADIC args text[]) RETURNS text
 *
 * The table's text for the SQL code (PL/pgSQL functions, RAISE ... USING
 * DETAIL/HINT): entry name (BMSG_<name>) in the session's language, its
 * %n$s filled with args; NULL when that language has none.
 */
Datum
bulkorder_message(PG_FUNCTION_ARGS)
{
	BulkMsg		id = bulk_message_id(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	Datum	   *elems;
	bool	   *nulls;
	int			nargs;
	const char **args;
	char	   *result;

	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nargs);
	args = palloc(sizeof(char *) * Max(nargs, 1));
	for (int i = 0; i < nargs; i++)
		args[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	result = message_text(id, nargs, args);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
