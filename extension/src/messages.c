/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  Every text bulkorder shows an operator, in Japanese and English: the
 *	  details and hints of its errors, the messages of a job's items, its
 *	  notifications, the lines of upload_errors.
 *
 * One table, keyed by a BulkMsg id, so that a translation is reviewed in
 * one place and a call site stays one line.  The C code reads it through
 * bulk_errdetail(), bulk_errhint() and bulk_message(); the SQL code (the
 * PL/pgSQL functions, RAISE ... USING DETAIL/HINT) through
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
		"リクエストキー「%1$s」はジョブ #%2$s (%3$s、対象 %4$s 件) で使用済みです。",
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

	/* item messages: an item's message in bulk_job_items (statements.c, revert_statements.c, job_chunk.c) */
	MSG(BMSG_ITEM_NOT_FOUND,
		"対象が見つかりません(存在しないか削除済みです)",
		"not found (unknown or deleted)"),
	MSG(BMSG_ITEM_SIDE_EFFECT_DONE,
		"決済リクエストまたはメールがすでに処理・送信されているため取り消せません",
		"a payment request or mail of this target has already been taken or answered"),
	MSG(BMSG_ITEM_CHANGED_SINCE,
		"一括更新の後に変更されているため取り消せません",
		"changed since the job"),
	MSG(BMSG_ITEM_ROW_LOCKED,
		"他の処理が対象の行をロックしたままのため更新できませんでした(ロックが解除されてから失敗分を再実行してください)",
		"another transaction kept the target's rows locked; retry the failures once it has ended"),

	/* notifications (job_status.c): %1$s the page's and %2$s the operation's display names; counts as strings */
	MSG(BMSG_JOB_ACCEPTED,
		"一括更新を受け付けました。%1$s「%2$s」 対象 %3$s 件 (ジョブ #%4$s)",
		"Bulk update accepted: %1$s, %2$s: %3$s targets (job #%4$s)"),
	MSG(BMSG_JOB_FINISHED,
		"一括更新が完了しました。%1$s「%2$s」 成功 %3$s 件 / 失敗 %4$s 件 (ジョブ #%5$s)",
		"Bulk update finished: %1$s, %2$s: %3$s succeeded / %4$s failed (job #%5$s)"),
	MSG(BMSG_JOB_CANCELLED,
		"一括更新を中止しました。%1$s「%2$s」 成功 %3$s 件 / 失敗 %4$s 件%5$s (ジョブ #%6$s)",
		"Bulk update cancelled: %1$s, %2$s: %3$s succeeded / %4$s failed%5$s (job #%6$s)"),
	MSG(BMSG_JOB_FAILED,
		"一括更新がエラーで中断しました。%1$s「%2$s」 中断までに 成功 %3$s 件 / 失敗 %4$s 件 エラー: %5$s (ジョブ #%6$s)",
		"Bulk update broke off with an error: %1$s, %2$s: %3$s succeeded / %4$s failed before it: %5$s (job #%6$s)"),
	MSG(BMSG_REVERT_ACCEPTED,
		"一括更新の取り消しを受け付けました。%1$s「%2$s」(ジョブ #%3$s) 対象 %4$s 件 (ジョブ #%5$s)",
		"Undo accepted: %1$s, %2$s (job #%3$s): %4$s targets (job #%5$s)"),
	MSG(BMSG_REVERT_FINISHED,
		"一括更新を取り消しました。%1$s「%2$s」(ジョブ #%3$s) 成功 %4$s 件 / 失敗 %5$s 件%6$s (ジョブ #%7$s)",
		"Bulk update undone: %1$s, %2$s (job #%3$s): %4$s succeeded / %5$s failed%6$s (job #%7$s)"),
	MSG(BMSG_REVERT_CANCELLED,
		"一括更新の取り消しを中止しました。%1$s「%2$s」(ジョブ #%3$s) 成功 %4$s 件 / 失敗 %5$s 件%6$s (ジョブ #%7$s)",
		"Undo cancelled: %1$s, %2$s (job #%3$s): %4$s succeeded / %5$s failed%6$s (job #%7$s)"),
	MSG(BMSG_CANCELLED_BY_OPERATOR,
		" 中止した人: %1$s (ロール %2$s)",
		", cancelled by %1$s (role %2$s)"),
	MSG(BMSG_CANCELLED_BY_ROLE,
		" 中止した人: ロール %1$s",
		", cancelled by role %1$s"),
	MSG(BMSG_JOB_WORKER_CRASHED,
		"作業プロセスが対象 %1$s〜%2$s の処理中に%3$s回異常終了したため、このジョブは自動では再開しません (worker_crashed)",
		"the job's worker ended abnormally %3$s times while running targets %1$s to %2$s, so the job is not resumed automatically (worker_crashed)"),

	/* the operation's statements (plan_cache.c, compile.c, engine.c) */
	MSG(BMSG_STATEMENT_NOT_ONE,
		"宣言の一部が、それを含む文を終わらせています。",
		"A piece of the declaration ends the statement it is part of."),
	MSG(BMSG_DECLARE_AGAIN,
		"bulkorder.define_operation で操作を宣言し直してください(どの部分かを示します)。",
		"Declare the operation again with bulkorder.define_operation, which names the piece."),
	MSG(BMSG_FRAGMENT_STATEMENTS,
		"エンジンが組み込む位置で %1$s 個の文になります。2 つ目以降の文はジョブの明細の外で実行されてしまいます。",
		"Where the engine puts it, it makes %1$s statements: the engine would run those after the first outside the job's items."),
	MSG(BMSG_FRAGMENT_ONE_STATEMENT,
		"宣言の各部分はエンジンが組み立てる 1 つの文の一部です。セミコロンで終わらせず、追加の変更は apply_sql の CTE か effects に書いてください。",
		"A piece is part of one statement the engine composes: end nothing with a semicolon, and write further changes as CTEs of apply_sql or as effects."),
	MSG(BMSG_NOT_APPLIED_TRIGGER,
		"すべてのルールを満たした行の変更を、戻り値 NULL の BEFORE UPDATE トリガーかページのテーブルのルールが取りやめました。",
		"A BEFORE UPDATE trigger returning NULL, or a rule on the page's table, skipped the change of a row that passed every rule."),
	MSG(BMSG_NOT_APPLIED_APPLY_SQL,
		"カタログの apply_sql は、更新できる対象ごとに 1 行を返す必要があります。",
		"The catalogue's apply_sql must return a row for every eligible target."),
	MSG(BMSG_MERGE_UNSUPPORTED,
		"変更は INSERT、UPDATE、DELETE で書いてください。",
		"Write the change as INSERT, UPDATE or DELETE."),
	MSG(BMSG_SHOP_CONFINED,
		"エンジンがジョブのために実行する文は、すべてジョブのショップに限られます。",
		"Every statement the engine runs for a job is confined to the job's shop."),
	MSG(BMSG_SHOP_LEAVE_SHOP_ID,
		"操作の SQL では shop_id を書かないでください。ジョブのショップはエンジンが書き込みます。",
		"Leave shop_id out of the operation's SQL: the engine writes the job's shop."),

	/* reverts and retries (revert.c, revert_statements.c, plan_cache.c): %1$s a job id */
	MSG(BMSG_JOB_STILL_OPEN,
		"ジョブの終了を待つか、bulkorder.cancel_job(%1$s) で中止してください。",
		"Wait until it ends, or cancel it with bulkorder.cancel_job(%1$s)."),
	MSG(BMSG_REVERT_ONCE,
		"1 つの対象が取り消されるのは 1 回だけです。取り消しの再実行は、同じジョブの取り消しが待機中・実行中でなくなるまで待ちます。",
		"A target is undone at most once: a retry of a revert waits until no other revert of the job is queued or running."),
	MSG(BMSG_REVERT_RUNNING,
		"ジョブ #%1$s の終了を待つか、bulkorder.cancel_job(%1$s) で中止してください。",
		"Wait until job %1$s ends, or cancel it with bulkorder.cancel_job(%1$s)."),
	MSG(BMSG_ALREADY_REVERTED,
		"取り消しジョブ #%1$s がこのジョブを取り消しています。",
		"Revert job %1$s undoes it."),
	MSG(BMSG_REVERT_THE_REVERT,
		"変更をもう一度反映するには、ジョブ #%1$s を取り消してください。",
		"Revert job %1$s to apply the change again."),
	MSG(BMSG_REVERT_NOT_DECLARED,
		"宣言されていない操作のジョブは取り消せません。",
		"A job of an operation that is not declared cannot be reverted."),
	MSG(BMSG_REVERT_NO_APPLY,
		"この操作の変更は対象自身の項目に限られず、カタログに取り消し用の revert_apply_sql もありません。",
		"Its change is not confined to the target's own fields, and the catalogue has no revert_apply_sql for it."),
	MSG(BMSG_REVERT_PARAMS,
		"取り消しのパラメータには、取り消すジョブ (job_id) とその操作を指定します。",
		"A revert's params name the job (job_id) and its operation."),
	MSG(BMSG_REQUEST_KEY_NEW,
		"別の依頼には新しいリクエストキーを指定してください。",
		"Use a new request key for a new request."),

	/* the queue (queue.c): what a submission's commit says when no worker could be started */
	MSG(BMSG_WORKER_NOT_FREE,
		"ランチャーは bulkorder.worker_naptime (%1$s 秒) ごとに待機中のジョブを探します。",
		"The launcher looks for queued jobs every bulkorder.worker_naptime (%1$s s)."),
	MSG(BMSG_RAISE_MAX_WORKER_PROCESSES,
		"max_worker_processes を増やしてください。",
		"Raise max_worker_processes."),
	MSG(BMSG_WORKER_SLOTS_IN_USE,
		"バックグラウンドワーカーの枠がすべて使用中です。このデータベースで次に非同期ジョブを投入するか bulkorder.start_worker() を実行するまで、ジョブは待機中のままです。",
		"Every background worker slot is in use: the job stays queued until the next asynchronous submission in this database or bulkorder.start_worker()."),
	MSG(BMSG_RAISE_OR_PRELOAD,
		"max_worker_processes を増やすか、bulkorder を shared_preload_libraries に加えてください(ワーカーが空きしだいランチャーがジョブを開始します)。",
		"Raise max_worker_processes, or add bulkorder to shared_preload_libraries so that its launcher starts the job as soon as a worker is free."),

	/* the library and the database (version.c, shop.c) */
	MSG(BMSG_VERSION_MISMATCH,
		"新しいバージョンのライブラリに合わせて、データベースの bulkorder を更新してください。",
		"The database's objects must be updated to the library's version."),
	MSG(BMSG_VERSION_UPDATE,
		"このデータベースで ALTER EXTENSION bulkorder UPDATE を実行してください。",
		"Run ALTER EXTENSION bulkorder UPDATE in this database."),
	MSG(BMSG_SHOPS_MISSING,
		"ALTER EXTENSION bulkorder UPDATE で作成されます。",
		"ALTER EXTENSION bulkorder UPDATE creates it."),
	MSG(BMSG_PAGE_LIST,
		"ページは %1$s です。",
		"The pages are %1$s."),

	/* CSV uploads (csv.c, csv_read.c, csv_tracking.c) */
	MSG(BMSG_CSV_TOO_LARGE,
		"ファイルが大きすぎるため(上限 %1$s バイト)、取り込まれていません。ファイルを分割してアップロードしてください。",
		NULL),
	MSG(BMSG_CSV_RAISE_LIMIT,
		"上限はスーパーユーザーが bulkorder.max_upload_bytes で変えられます。",
		"Split the file, or ask a superuser to raise bulkorder.max_upload_bytes."),
	MSG(BMSG_CSV_LINE_TOO_LONG,
		"%1$s 行目が長すぎるため(1 行 %2$s バイトまで)、ファイルは取り込まれていません。",
		"Line %1$s is longer than that: the file was rejected and nothing of it was kept."),
	MSG(BMSG_CSV_ONLY_COLUMNS_AB,
		"読み取るのは A 列(出荷データ取り込みでは B 列も)だけです。ほかの列を削除して保存し直すか、ファイルが CSV テキストか確かめてください。",
		"Only column A (and B for the shipment import) is read: delete the other columns and save the file again, or check that the file is CSV text."),
	MSG(BMSG_TRACKING_FORMATS,
		"送り状番号の形式は jp12、s10、text です (bulkorder.delivery_methods.tracking_format)。",
		"The formats are jp12, s10 and text (bulkorder.delivery_methods.tracking_format)."),

	/* upload_errors (code/60_csv.sql): %1$s column A's value or column B's tracking number, %2$s and %3$s the key's name in Japanese and English, %4$s the key, %5$s the key's first line; invalid_tracking_no: %6$s the problem, %7$s the format (TRACKING_*) */
	MSG(BMSG_UPLOAD_A_EMPTY,
		"A列に%2$sがありません",
		"column A holds no %3$s"),
	MSG(BMSG_UPLOAD_A_NOT_A_NUMBER,
		"A列「%1$s」は%2$s(数字)ではありません",
		"column A \"%1$s\" is not a number (%3$s)"),
	MSG(BMSG_UPLOAD_A_GROUPING,
		"A列「%1$s」は%2$s(数字)ではありません(カンマが3桁区切りの位置にありません)",
		"column A \"%1$s\" is not a number (%3$s): its commas are not thousands separators (groups of three digits)"),
	MSG(BMSG_UPLOAD_A_FRACTION,
		"A列「%1$s」は%2$s(数字)ではありません(小数点以下が0ではありません)",
		"column A \"%1$s\" is not a number (%3$s): its fraction is not zero"),
	MSG(BMSG_UPLOAD_A_FORMULA_ERROR,
		"A列「%1$s」は表計算ソフトの数式エラーで、%2$sではありません。数式を直すか値として貼り付けてから、保存し直してください",
		"column A \"%1$s\" is a spreadsheet formula error, not a number (%3$s): correct the formula or paste the values, then save the file again"),
	MSG(BMSG_UPLOAD_A_OUT_OF_RANGE,
		"A列「%1$s」は桁が多すぎて%2$sではありません。A列の値を確かめてください",
		"column A \"%1$s\" has more digits than any %3$s: check the value"),
	MSG(BMSG_UPLOAD_A_SEPARATOR,
		"A列「%1$s」はタブかセミコロンで区切られた行で、%2$sを読めません。ファイルをカンマ区切り(CSV)で保存し直してください",
		"column A \"%1$s\" is a line separated by tabs or semicolons: no %3$s can be read from it. Save the file again as comma-separated values (CSV)"),
	MSG(BMSG_UPLOAD_A_QUESTION_MARK,
		"A列「%1$s」の「?」は Shift_JIS で保存したときに表せなかった文字(ノーブレークスペースやゼロ幅スペースなど)で、%2$sとして読めません。その文字を消すか、CSV UTF-8 で保存し直してください",
		"column A \"%1$s\": the \"?\" stands for a character Shift_JIS cannot hold (a no-break or zero-width space, for example), so it is no %3$s. Delete that character, or save the file again as CSV UTF-8"),
	MSG(BMSG_UPLOAD_A_ROUNDED_NUMBER,
		"A列「%1$s」は表計算ソフトが指数表記に丸めた数値のため、元の%2$sが分かりません。A列の書式を「文字列」にして%2$sを入力し直し、保存し直してください",
		"column A \"%1$s\" is a number the spreadsheet rounded into scientific notation: the %3$s it stood for is unknown. Format column A as text, enter the full %3$s and save the file again"),
	MSG(BMSG_UPLOAD_A_NOT_AN_INTEGER,
		"A列「%1$s」は小数点以下が0ではない数値で、%2$sではありません。値を確かめ、A列の書式を「文字列」にして%2$sを入力し直し、保存し直してください",
		"column A \"%1$s\" is a number with a fraction, not a whole number (%3$s): check the value, format column A as text, enter the %3$s and save the file again"),
	MSG(BMSG_UPLOAD_A_NEGATIVE_NUMBER,
		"A列「%1$s」はマイナスの数値(-、▲、△、かっこ付き)で、%2$sではありません。値を確かめ、A列の表示形式を「標準」か「文字列」にして%2$sを入力し直し、保存し直してください",
		"column A \"%1$s\" is a negative number (-, ▲, △ or in parentheses), and no %3$s is negative: check the value, set column A to the General or Text format, enter the %3$s and save the file again"),
	MSG(BMSG_UPLOAD_A_CURRENCY_FORMAT,
		"A列「%1$s」は通貨や単位(¥、\\、$、円、番 など)の付いた表示形式で書き出されていて、%2$sとして読めません。A列の表示形式を「標準」か「文字列」にして保存し直してください",
		"column A \"%1$s\" was saved in a currency or unit format (¥, \\, $, 円, 番 and the like), so it is no %3$s: set column A to the General or Text format and save the file again"),
	MSG(BMSG_UPLOAD_A_FORMULA_TEXT,
		"A列「%1$s」は数式のテキスト(=、+、@ で始まるもの)で、%2$sではありません。値として貼り付けるか、数式を保存しない設定で保存し直してください",
		"column A \"%1$s\" is the text of a formula (beginning with =, + or @), no %3$s: paste the column as values, or save the file without formulas"),
	MSG(BMSG_UPLOAD_NOT_FOUND,
		"%2$s %4$s が見つかりません(存在しないか削除済みです)",
		"%3$s %4$s not found (unknown or deleted)"),
	MSG(BMSG_UPLOAD_DUPLICATE_KEY,
		"%2$s %4$s は %5$s 行目と重複しています",
		"%3$s %4$s was already given on line %5$s"),
	MSG(BMSG_UPLOAD_B_ROUNDED_NUMBER,
		"B列「%1$s」は表計算ソフトが指数表記に丸めた送り状番号のため、元の番号が分かりません。B列の書式を「文字列」にして送り状番号を入力し直し、保存し直してください",
		"column B \"%1$s\" is a tracking number the spreadsheet rounded into scientific notation: the real number is unknown. Format column B as text, enter the full tracking number and save the file again"),
	MSG(BMSG_UPLOAD_B_NOT_AN_INTEGER,
		"B列「%1$s」は小数点以下のある数値で、送り状番号の桁が失われています。B列の書式を「文字列」にして送り状番号を入力し直し、保存し直してください",
		"column B \"%1$s\" is a number with a fraction: digits of the tracking number are lost. Format column B as text, enter the tracking number again and save the file again"),
	MSG(BMSG_UPLOAD_B_NEGATIVE_NUMBER,
		"B列「%1$s」はマイナスの数値で、送り状番号ではありません。B列の書式を「文字列」にして正しい送り状番号を入力し直し、保存し直してください",
		"column B \"%1$s\" is a negative number, not a tracking number. Format column B as text, enter the right tracking number and save the file again"),
	MSG(BMSG_UPLOAD_B_CURRENCY_FORMAT,
		"B列「%1$s」は通貨や単位の表示形式で書き出された数値で、送り状番号として使えません。B列の表示形式を「文字列」にして送り状番号を入力し直し、保存し直してください",
		"column B \"%1$s\" was saved in a currency or unit format, so it is no tracking number. Format column B as text, enter the tracking number again and save the file again"),
	MSG(BMSG_UPLOAD_B_FORMULA_TEXT,
		"B列「%1$s」は数式のテキストで、送り状番号ではありません。B列を値として貼り付けるか、数式を保存しない設定(LibreOffice の「セルの数式を保存」をオフ)で保存し直してください",
		"column B \"%1$s\" is the text of a formula, not a tracking number. Paste column B as values, or save the file without formulas (LibreOffice: untick \"save cell formulas\")"),
	MSG(BMSG_UPLOAD_B_INVALID_TRACKING_NO,
		"B列「%1$s」はこの注文の配送方法の送り状番号ではありません: %6$s。%7$s。伝票の番号を確かめ、B列の書式を「文字列」にして入力し直し、保存し直してください",
		"column B \"%1$s\" is not a tracking number of the order's carrier: %6$s. %7$s. Check the number on the slip, format column B as text, enter it again and save the file again"),
	MSG(BMSG_TRACKING_PROBLEM_CHARACTER,
		"使えない文字か、位置の違う区切りがあります",
		"it holds a character the format does not allow, or a separator out of place"),
	MSG(BMSG_TRACKING_PROBLEM_QUESTION_MARK,
		"(「?」は Shift_JIS で表せなかった文字(ノーブレークスペースなど)が置き換えられたものです)",
		" (\"?\" stands for a character Shift_JIS cannot hold, such as a no-break space)"),
	MSG(BMSG_TRACKING_PROBLEM_LENGTH_JP12,
		"桁数が違います(%1$s 桁。先頭の0が落ちたり、表計算ソフトが桁を丸めたりしていないか確かめてください)",
		"its length is wrong (%1$s digits: was a leading zero dropped, or digits rounded?)"),
	MSG(BMSG_TRACKING_PROBLEM_LENGTH,
		"桁数が違います(%1$s 文字)",
		"its length is wrong (%1$s characters)"),
	MSG(BMSG_TRACKING_PROBLEM_CHECK_DIGIT,
		"チェックディジット(確認用の数字)が合いません。番号の打ち間違いか、表計算ソフトで数字が変わっています",
		"its check digit does not match: a digit was mistyped or changed by the spreadsheet"),
	MSG(BMSG_TRACKING_FORMAT_JP12,
		"この配送方法の送り状番号は12桁の数字(4桁ずつ「-」か空白で区切っても可)で、最後の桁がチェックディジットです",
		"The carrier issues 12 digits (grouped 4-4-4 by \"-\" or spaces, or not), the last one a check digit"),
	MSG(BMSG_TRACKING_FORMAT_S10,
		"この配送方法の送り状番号は英字2文字・数字9桁(9桁目がチェックディジット)・英字2文字です(例: EJ123456785JP)",
		"The carrier issues two letters, nine digits (the ninth a check digit) and two letters, such as EJ123456785JP"),
	MSG(BMSG_TRACKING_FORMAT_TEXT,
		"この配送方法の送り状番号は1〜40文字の英字・数字・「-」です",
		"The carrier issues 1 to 40 letters, digits and \"-\""),
	MSG(BMSG_UPLOAD_PURGED,
		"bulkorder.purge_uploads() で削除された可能性があります。ファイルをアップロードし直してください。",
		"It may have been purged by bulkorder.purge_uploads(); upload the file again."),
	MSG(BMSG_PURGE_INTERVAL,
		"例: bulkorder.purge_uploads('30 days')",
		"For example bulkorder.purge_uploads('30 days')."),

	/* shops and roles (code/05_shops.sql) */
	MSG(BMSG_CREATE_SHOP_CODE,
		"ショップのコードは英小文字・数字・-・_ の 1〜63 文字です(例: kenko-shop)。",
		"A shop code is 1 to 63 lower-case letters, digits, - or _, e.g. kenko-shop."),
	MSG(BMSG_CHOOSE_ANOTHER_CODE,
		"別のコードを指定してください。",
		"Choose another code."),
	MSG(BMSG_GRANT_NAME_SHOP,
		"ショップのコードを指定してください(例: bulkorder.grant_operator('role', 'kenko-shop'))。",
		"Pass the shop's code, e.g. bulkorder.grant_operator('role', 'kenko-shop')."),
	MSG(BMSG_GRANT_SHOP_UNKNOWN,
		"ショップは bulkorder.shops のコードで指定してください。",
		"The shops are the codes of bulkorder.shops."),

	/* payment connectors (code/55_payments.sql) */
	MSG(BMSG_REQUEST_SETTLED,
		"%3$s に %1$s (結果コード %2$s) で確定済みです。今回の報告は %4$s (結果コード %5$s) です。",
		"It was settled as %1$s (result code %2$s) at %3$s; this report says %4$s (result code %5$s)."),
	MSG(BMSG_REQUEST_SETTLED_ONCE,
		"リクエストの確定は 1 回だけです。やり直すには新しいリクエストを作成してください(一括再与信 / 一括再出荷報告)。",
		"A request is settled once; queue a new request (一括再与信 / 一括再出荷報告) to try again."),

	/* order generation (code/65_generation.sql): %1$s the as_of date */
	MSG(BMSG_AS_OF_NULL,
		"注文を生成する発送予定日の上限を指定してください(例: current_date)。",
		"Pass the date up to which due subscriptions get their order, e.g. current_date."),
	MSG(BMSG_AS_OF_RANGE,
		"as_of は 1900-01-01 から 2199-12-31 までの日付で指定してください。",
		"A date argument takes a date from 1900-01-01 to 2199-12-31; infinity is not a date."),
	MSG(BMSG_GENERATION_SHOP,
		"bulkorder.shops のショップを指定するか、すべてのショップなら NULL を指定してください。",
		"Name a shop of bulkorder.shops, or NULL for every shop."),
	MSG(BMSG_GENERATION_DONE,
		"定期注文を自動生成しました(%1$s 発送分まで): 作成 %2$s件、エラー %3$s件",
		"Subscription orders generated (shipping up to %1$s): %2$s created, %3$s failed"),
	MSG(BMSG_GENERATION_ERRORS_LISTED,
		"。エラーの定期注文マスターは定期自動生成エラーとして一覧に表示されます",
		". The subscription masters that failed show as auto-generation errors in the list"),
	MSG(BMSG_GENERATION_BROKE_OFF,
		"定期注文の自動生成がエラーで中断しました(%1$s 発送分まで): %2$s",
		"Subscription order generation broke off with an error (shipping up to %1$s): %2$s"),

	/* declaring an operation (code/35_define_operation.sql) */
	MSG(BMSG_RULE_KEYS,
		"ルールには code、condition、message_ja、message_en を指定します。",
		"A rule has code, condition, message_ja and message_en."),
	MSG(BMSG_RULE_FIELDS,
		"どのルールにもエラーコード、条件、メッセージ(日本語と英語)を空でない文字列で指定してください。",
		"Every rule needs its error code, its condition and both messages (Japanese and English), as non-empty strings."),
	MSG(BMSG_RULE_CODE,
		"エラーコードは ^[a-z][a-z0-9_]*$ に合う文字列です。not_found はエンジンが使います。",
		"An error code matches ^[a-z][a-z0-9_]*$; not_found is the engine's own."),
	MSG(BMSG_REVERT_RULE_CODE,
		"エラーコードは ^[a-z][a-z0-9_]*$ に合う文字列です。not_found、side_effect_done、changed_since は取り消しが使います。",
		"An error code matches ^[a-z][a-z0-9_]*$; not_found, side_effect_done and changed_since are the revert's own."),
	MSG(BMSG_OPERATION_CODE,
		"コードは ^[a-z][a-z0-9_]*$ に合う 63 文字以内の文字列です。",
		"A code matches ^[a-z][a-z0-9_]*$ (at most 63 characters)."),
	MSG(BMSG_REVERT_RESERVED,
		"操作が revert のジョブは、別のジョブの取り消し(bulkorder.revert_job)です。",
		"A job whose operation is revert is the undo of another job (bulkorder.revert_job)."),
	MSG(BMSG_CHOOSE_ANOTHER_OPERATION_CODE,
		"別のコードを指定してください(例: revert_to_awaiting)。",
		"Choose another code, e.g. revert_to_awaiting."),
	MSG(BMSG_WRAPPER_NAME,
		"ラッパー名は ^[a-z][a-z0-9_]*$ に合う 63 文字以内の名前です(例: bulk_gift_wrap)。",
		"A wrapper name matches ^[a-z][a-z0-9_]*$ (at most 63 characters), e.g. bulk_gift_wrap."),
	MSG(BMSG_PARAM_NAME,
		"パラメータ名は ^[a-z][a-z0-9_]*$ に合い、%1$s(ラッパーのキー)以外の名前です。",
		"A parameter name matches ^[a-z][a-z0-9_]*$ and is not %1$s (the wrapper's keys)."),
	MSG(BMSG_PARAM_SPEC_KEYS,
		"パラメータの仕様に指定できるのは type、default、nullable、enum、max_length、min、max、position です。",
		"A parameter spec takes type, default, nullable, enum, max_length, min, max and position."),
	MSG(BMSG_PARAM_TYPES,
		"型は boolean、text、integer、bigint、date、text[] です。",
		"The types are boolean, text, integer, bigint, date and text[]."),
	MSG(BMSG_PARAM_SPEC,
		"nullable は真偽値、enum は配列、position、max_length、min、max は数値で指定します。",
		"nullable is a boolean, enum an array, position, max_length, min and max numbers."),
	MSG(BMSG_PARAM_DEFAULT_NULL,
		"default を null にするには \"nullable\": true が必要です。",
		"A default of null needs \"nullable\": true."),
	MSG(BMSG_SET_OR_APPLY,
		"set_clause はページの行を更新し(UPDATE t SET <set_clause>)、apply_sql は eligible から applied(target, after) を定義します。",
		"set_clause updates the page's row (UPDATE t SET <set_clause>); apply_sql defines applied(target, after) from eligible."),
	MSG(BMSG_CHANGED_COLUMNS,
		"ジョブは変更する列を明細ごとに変更前・変更後の値として記録し、revert_job はそれを元に戻します。",
		"A job records the changed columns in each item's before and after images, and revert_job sets them back."),
	MSG(BMSG_NAME_CHANGED_COLUMNS,
		"set_clause が変更する列を指定してください(例: changed_columns => '{gift_wrap}')。",
		"Name the columns set_clause changes, e.g. changed_columns => '{gift_wrap}'."),
	MSG(BMSG_TARGET_JOIN_KEYS,
		"target_join に指定できるのは table、alias、key、on です。",
		"target_join takes table, alias, key and on."),
	MSG(BMSG_TARGET_JOIN_STRINGS,
		"table、alias、key は必須、on は省略できます。",
		"table, alias and key are required; on is optional."),
	MSG(BMSG_TARGET_JOIN_ALIAS,
		"別名は ^[a-z_][a-z0-9_]*$ に合い、文が使う名前 t、i、p、prm、bulkorder_old 以外にしてください。",
		"An alias matches ^[a-z_][a-z0-9_]*$ and is none of the statements' own names t, i, p, prm and bulkorder_old."),
	MSG(BMSG_CHECK_KEYS,
		"全体チェックには condition と message、省略できる hint、hint_ja、sqlstate を指定します。",
		"A check has condition, message, and optionally hint, hint_ja and sqlstate."),
	MSG(BMSG_CHECK_SQLSTATE,
		"クラス 00 は成功、01 は警告、02 はデータなしです。チェックに失敗した呼び出しはエラーで拒否されます。",
		"Class 00 is success, 01 a warning and 02 no data; a failed check rejects the call with an error."),
	MSG(BMSG_CHECK_ERROR_SQLSTATE,
		"エラーの SQLSTATE を指定してください(例: 22023 (invalid_parameter_value、既定値) や 22008)。",
		"Give an error SQLSTATE, e.g. 22023 (invalid_parameter_value, the default) or 22008."),
	MSG(BMSG_REVERT_KEYS,
		"revert に指定できるのは reversible、reason、condition、rules、before_sql、apply_sql、prelock_sql、lock_sql、visible_condition です。",
		"revert takes reversible, reason, condition, rules, before_sql, apply_sql, prelock_sql, lock_sql and visible_condition."),
	MSG(BMSG_REVERT_STRINGS,
		"reason、condition と各文は省略できます。指定するときは空でない文字列にしてください。",
		"Its reason, condition and statements are optional; each one given is a non-empty string."),
	MSG(BMSG_IRREVERSIBLE_REASON,
		"ジョブを取り消せない理由を書いてください。revert_job はその理由を表示します。",
		"Say why a job of it cannot be undone; revert_job shows the reason."),
	MSG(BMSG_REVERSIBLE_REASON,
		"理由は \"reversible\": false と一緒に指定してください。取り消せる操作には理由を書きません。",
		"Give \"reversible\": false with the reason, or no reason."),
	MSG(BMSG_IRREVERSIBLE_ONLY_REASON,
		"\"reversible\": false には理由だけを指定してください。",
		"Give \"reversible\": false with only its reason."),
	MSG(BMSG_KEEPING_SHOP_DECLARATION,
		"リリースノートにある出荷時の宣言と比べてください。出荷時の宣言を使うには、ショップの宣言を削除するか宣言し直してください。",
		"Compare it with the shipped declaration in the release notes; drop or redefine it to take the shipped one."),
	MSG(BMSG_OPERATION_SHIPPED,
		"別のコードを指定するか、replace_shipped => true を渡して出荷時の宣言を置き換えてください (docs/define_operation.md)。",
		"Choose another code, or pass replace_shipped => true to replace the shipped declaration (docs/define_operation.md)."),
	MSG(BMSG_JOB_OPEN_WAIT,
		"ジョブの終了を待つか、bulkorder.cancel_job(job_id) で中止してください。",
		"Wait for it, or cancel it with bulkorder.cancel_job(job_id)."),
	MSG(BMSG_WRAPPER_TAKEN,
		"別のラッパー名を指定してください。",
		"Choose another wrapper name."),
	MSG(BMSG_WRAPPER_KEPT,
		"ラッパー名と、パラメータの名前・型・順序・既定値は変えないでください。ルール、チェック、変更内容と副作用は変えられます。",
		"Keep the wrapper name and the parameters' names, types, order and defaults; rules, checks, the change and its effects may differ."),
	MSG(BMSG_SHIPPED_WRAPPER,
		"ラッパーは出荷時のものです。代わりに define_operation(..., replace_shipped => true) で宣言し直してください。",
		"Its wrapper is shipped: redefine it with define_operation(..., replace_shipped => true) instead."),
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

	Assert(id >= 0 && id < BMSG_COUNT && messages[id].name != NULL);
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
