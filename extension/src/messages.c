/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  The catalogue of whole-call error texts, in Japanese and English.
 *
 * A call rejected as a whole keeps an English errmsg, as PostgreSQL's own
 * errors do (clients and logs match on it); its errdetail and errhint
 * follow bulkorder.language.  Every text lives in the table below, keyed by
 * a BulkMsg id, so that a translation is reviewed in one place and a call
 * site stays one line: errdetail/errhint through bulk_errdetail() and
 * bulk_errhint().  An entry without English text adds nothing in English
 * (the errmsg says it all); every entry has Japanese text, so an operator
 * working in Japanese always gets a sentence of their own.
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

typedef struct BulkMessage
{
	const char *name;			/* the id, "BMSG_X": SQL names it "X" */
	const char *ja;
	const char *en;				/* NULL: nothing beyond the English errmsg */
} BulkMessage;

/* an entry of the table: its id, its Japanese text, its English text */
#define MSG(id, ja, en) [id] = {#id, ja, en}

static const BulkMessage messages[BMSG_COUNT] = {
	/* params.c: arguments %1$s parameter, %2$s operation (page/operation) */
	MSG(BMSG_PARAM_UNKNOWN,
		"%2$s のパラメータは %3$s です。パラメータ %1$s はありません。",
		"The parameters of %2$s are: %3$s."),
	MSG(BMSG_PARAM_MISSING,
		"パラメータ %1$s を指定してください。", NULL),
	MSG(BMSG_PARAM_NULL,
		"パラメータ %1$s に null は指定できません。", NULL),
	MSG(BMSG_PARAM_BOOLEAN,
		"パラメータ %1$s は true または false で指定してください。", NULL),
	MSG(BMSG_PARAM_TEXT,
		"パラメータ %1$s は文字列で指定してください。", NULL),
	MSG(BMSG_PARAM_INTEGER,
		"パラメータ %1$s は整数で指定してください。",
		"Write a whole number without a decimal point, e.g. 1 rather than 1.0."),
	MSG(BMSG_PARAM_INTEGER_RANGE,
		"パラメータ %1$s は %3$s から %4$s までの整数で指定してください。",
		"The range of %2$s is %3$s to %4$s."),
	MSG(BMSG_PARAM_MIN,
		"パラメータ %1$s は %2$s 以上で指定してください。", NULL),
	MSG(BMSG_PARAM_MAX,
		"パラメータ %1$s は %2$s 以下で指定してください。", NULL),
	MSG(BMSG_PARAM_TOO_LONG,
		"パラメータ %1$s は %2$s 文字以内で指定してください。", NULL),
	MSG(BMSG_PARAM_ENUM,
		"パラメータ %1$s に指定できる値は %2$s です。",
		"Allowed values: %2$s."),
	MSG(BMSG_PARAM_DATE,
		"パラメータ %1$s は日付 (YYYY-MM-DD) で指定してください。", NULL),
	MSG(BMSG_PARAM_DATE_RANGE,
		"パラメータ %1$s は 1900-01-01 から 2199-12-31 までの日付で指定してください。",
		"A date parameter takes a date from 1900-01-01 to 2199-12-31; infinity is not a date."),
	MSG(BMSG_PARAM_ARRAY,
		"パラメータ %1$s は文字列の配列で指定してください。", NULL),
	MSG(BMSG_PARAM_ARRAY_NULL,
		"パラメータ %1$s の要素に null は指定できません。", NULL),
	MSG(BMSG_PARAM_ARRAY_BLANK,
		"パラメータ %1$s に空の値 (空白だけの値を含む) は指定できません。", NULL),
	MSG(BMSG_PARAM_ARRAY_LIMIT,
		"パラメータ %1$s に指定できる要素は 1000 個までです。", NULL),
	MSG(BMSG_NOT_OBJECT,
		"%1$s は JSON オブジェクト ({...}) で指定してください。", NULL),

	/* jobs.c */
	MSG(BMSG_ARG_NULL,
		"%1$s に NULL は指定できません。", NULL),
	MSG(BMSG_TARGETS_NULL,
		"対象 (targets) に NULL は指定できません。対象がないときは空の配列を渡してください。",
		"Pass the keys as a bigint[]; an empty array makes an empty job."),
	MSG(BMSG_PARAMS_NULL,
		"params に NULL は指定できません。パラメータのない操作には '{}' を渡してください。",
		"Pass '{}' for an operation without parameters."),
	MSG(BMSG_OPTION_UNKNOWN,
		"オプション %1$s はありません。指定できるオプションは async、request_key、operator、source です。",
		"The options are async, request_key, operator and source."),
	MSG(BMSG_OPTION_BOOLEAN,
		"オプション %1$s は true または false で指定してください。", NULL),
	MSG(BMSG_OPTION_TEXT,
		"オプション %1$s は 1 文字以上 200 文字以内の文字列で指定してください。", NULL),
	MSG(BMSG_REQUEST_KEY_CONCURRENT,
		"同じリクエストキーの呼び出しが同時に行われました。もう一度呼び出すと、先に受け付けたジョブの番号が返ります。",
		"Retry the call: it will return that transaction's job."),
	MSG(BMSG_REQUEST_KEY_OTHER_REQUEST,
		"リクエストキー「%1$s」はジョブ #%2$s (%3$s、対象 %4$s 件) で使用済みです。別の依頼には新しいリクエストキーを指定してください。",
		"request key \"%1$s\" was used by job %2$s for %3$s over %4$s targets."),
	MSG(BMSG_REQUEST_KEY_UNVERIFIABLE,
		"リクエストキー「%1$s」はバージョン 1.1 より前のジョブ #%2$s で使用済みで、同じ依頼か確認できません。新しいリクエストキーを指定してください。",
		"request key \"%1$s\" was used by job %2$s, submitted before bulkorder 1.1 recorded what a request was; it cannot be compared."),

	/* engine.c: the targets array */
	MSG(BMSG_TARGETS_DIMENSIONS,
		"対象 (targets) は 1 次元の配列で指定してください (指定された配列は %1$s 次元です)。",
		"The array given has %1$s dimensions."),
	MSG(BMSG_TARGETS_NULL_ELEMENT,
		"対象 (targets) の %1$s 番目の要素が NULL です。",
		"Element %1$s is NULL."),
	MSG(BMSG_TARGETS_TOO_MANY,
		"1 つのジョブの対象は %1$s 件までです (bulkorder.max_targets)。複数のジョブに分けてください。",
		"One job takes at most %1$s targets (bulkorder.max_targets); split the keys into several jobs, or raise bulkorder.max_targets."),

	/* declaration.c: %1$s the page, %2$s the list of its operations or of pages */
	MSG(BMSG_PAGE_UNKNOWN,
		"ページ %1$s はありません。ページは %2$s です。",
		"The pages are %2$s."),
	MSG(BMSG_OPERATION_UNKNOWN,
		"ページ %1$s に操作 %3$s はありません。操作は %2$s です。",
		"The operations of page \"%1$s\" are: %2$s."),

	/* csv.c, csv_read.c */
	MSG(BMSG_UPLOAD_OPTION_UNKNOWN,
		"オプション %1$s はありません。指定できるオプションは encoding、operator です。",
		"The options are encoding and operator."),
	MSG(BMSG_IMPORT_OPTION_UNKNOWN,
		"オプション %1$s はありません。指定できるオプションは encoding、operator、request_key、source、async です。",
		"The options are encoding, operator, request_key, source and async."),
	MSG(BMSG_CSV_ENCODING,
		"文字コード %1$s には対応していません。UTF8 (既定) または SJIS (Shift_JIS / CP932、Excel の「CSV (コンマ区切り)」の文字コード) を指定してください。",
		"Use \"UTF8\" (the default) or \"SJIS\" (Shift_JIS / CP932, what Excel saves as \"CSV (コンマ区切り)\")."),
	MSG(BMSG_CSV_ENCODING_TEXT,
		"オプション encoding は文字列 (\"UTF8\" または \"SJIS\") で指定してください。",
		"Use \"UTF8\" (the default) or \"SJIS\"."),
	MSG(BMSG_CSV_CONTENT_NULL,
		"content に NULL は指定できません。ファイルの内容 (bytea) を渡してください (psql では decode(:'content', 'base64') など)。",
		"Pass the file's bytes, e.g. decode(:'content', 'base64') in psql."),
	MSG(BMSG_CSV_REJECTED,
		"ファイルは取り込まれていません (何も保存されていません)。",
		"The file was rejected and nothing of it was kept."),
	MSG(BMSG_CSV_NOT_UTF8,
		"ファイルは UTF-8 として正しくありません。Excel で「CSV (コンマ区切り)」として保存したファイルは Shift_JIS です。options に {\"encoding\": \"SJIS\"} を指定してアップロードしてください。",
		"The file is not valid UTF-8: a file saved by Excel as \"CSV (コンマ区切り)\" is Shift_JIS; upload it with options {\"encoding\": \"SJIS\"}."),
	MSG(BMSG_CSV_NOT_SJIS,
		"ファイルは Shift_JIS (CP932) として正しくありません。UTF-8 で保存したファイルなら、options に {\"encoding\": \"UTF8\"} を指定してアップロードしてください。",
		"The file is not valid Shift_JIS (CP932): if it was saved as UTF-8, upload it with options {\"encoding\": \"UTF8\"}."),
	MSG(BMSG_CSV_UTF16,
		"ファイルは UTF-16 です。Excel で「CSV UTF-8 (コンマ区切り)」または「CSV (コンマ区切り)」として保存し直してください。",
		"Save it from Excel as \"CSV UTF-8 (コンマ区切り)\" or \"CSV (コンマ区切り)\"."),
	MSG(BMSG_CSV_END_MARKER,
		"\\. だけの行は取り込めません。その行を削除するか、引用符で囲んでください (\"\\.\")。",
		"Remove that line, or quote it (\"\\.\")."),
	/* the context of an error raised while a line of the file is read */
	MSG(BMSG_CSV_LINE,
		"CSV ファイルの %1$s 行目",
		"CSV line %1$s"),

	/* shop.c: the shop of a call */
	MSG(BMSG_SHOP_CODE,
		"%1$s にはショップのコード(英小文字・数字・-・_ の 1〜63 文字)を指定してください。",
		"A shop code is 1 to 63 lower-case letters, digits, - or _."),
	MSG(BMSG_SHOP_DIFFERS,
		"options.shop(%1$s)と bulkorder.shop(%2$s)が異なります。どちらか一方だけを指定するか、同じショップを指定してください。",
		"Name one shop: leave options.shop out, or give the same code as bulkorder.shop."),
	MSG(BMSG_SHOP_UNKNOWN,
		"ショップ %1$s はありません。権限のあるショップのコードを指定してください。",
		"Name a shop you are granted, by its code."),
	MSG(BMSG_SHOP_AMBIGUOUS,
		"このデータベースには複数のショップがあり、ロールにも複数(または 0)のショップが許可されています。",
		"This database has several shops, and the role is granted more than one (or none)."),
	MSG(BMSG_SHOP_NAME_IT,
		"options.shop にショップのコードを指定するか、トランザクション内で SET LOCAL bulkorder.shop = 'コード' を実行してください(コネクションプーラー経由ではセッション単位の SET は使わないでください)。",
		"Give options.shop, or run SET LOCAL bulkorder.shop = 'code' in the transaction (behind a connection pooler, never a session-level SET)."),
	MSG(BMSG_SHOP_DENIED,
		"このロールはこのショップの操作を許可されていません。管理者に bulkorder.grant_operator(ロール, ショップ) を依頼してください。",
		"Ask the DBA for bulkorder.grant_operator(role, shop)."),
	MSG(BMSG_CANCEL_OPTION_UNKNOWN,
		"オプション %1$s はありません。cancel_job のオプションは operator と shop です。",
		"The options of cancel_job are operator and shop."),
	MSG(BMSG_NOTIFICATIONS_OPTION_UNKNOWN,
		"オプション %1$s はありません。mark_notifications_read のオプションは operator と shop です。",
		"The options of mark_notifications_read are operator and shop."),
	MSG(BMSG_RETRY_ERROR_CODES,
		"オプション error_codes はエラーコードの配列で指定してください (例: {\"error_codes\": [\"auth_ng\"]})。",
		"For example {\"error_codes\": [\"auth_ng\"]}."),

};

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

	Assert(id >= 0 && id < BMSG_COUNT);
	fmt = bulkorder_language == BULK_LANG_EN ? messages[id].en : messages[id].ja;
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
		if (messages[i].name && strcmp(messages[i].name + strlen("BMSG_"), name) == 0)
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
