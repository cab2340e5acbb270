-- Demo data for bulkorder: a realistic Japanese subscription shop (健康食品・
-- コスメ・食品の定期通販), deterministic from a seed.  Not part of the extension:
-- run it with psql against a database where `CREATE EXTENSION bulkorder` has
-- just been done (the shop's tables must be empty):
--
--   psql -X -d mydb -v orders=20000 -v seed=42 -f tools/demo-data.sql
--
-- Variables (all optional):
--   orders  number of orders (default 20000); customers = orders / 5,
--           subscriptions ≈ orders × 0.45 / 8, order lines ≈ 1.6 per order
--   seed    the seed (default 42): the same seed, orders and today give the
--           same rows, byte for byte
--   today   the shop's "today" (default 2026-12-01): orders scheduled after
--           it await shipment, those before it have shipped
--
-- Everything is set-based (INSERT … SELECT over generate_series); randomness
-- is a hash of (row number, attribute, seed), so the data does not depend on
-- the order in which rows are produced.  1,000,000 orders (with 200,000
-- customers, 56,000 subscriptions and 1.4 million order lines) load in
-- about 22 s on 2 cores; 20,000 in about 1 s.  One transaction, then ANALYZE.
--
-- What is in it: 4 delivery methods with their time slots (ヤマト運輸
-- 午前中/14-16時/…, 佐川急便, ゆうパック, ネコポス), 6 delivery frequencies
-- (monthly, every 2 and 3 months, every 2 weeks, every 10 days, monthly on
-- the 25th), products in classes that decide which payment methods, delivery
-- methods and frequencies they allow (free gifts at price 0, one gift that
-- allows only card and 代引き, non-public legacy products), customers with
-- Japanese names, kana, addresses and ranks (some ブラックリスト候補 and
-- ブラックリスト), subscriptions in every status with their items, orders in
-- every status with course_seq numbering per subscription, deferred payments
-- with NG results (NP後払い with exactly `NPの与信がNGになりました。NG999。` and
-- with other codes), shipment reports NG on some orders being shipped, tags,
-- notes, a few deleted orders.

\set ON_ERROR_STOP on
\if :{?orders}
\else
  \set orders 20000
\endif
\if :{?seed}
\else
  \set seed 42
\endif
\if :{?today}
\else
  \set today 2026-12-01
\endif

BEGIN;
SET LOCAL work_mem = '256MB';
SET LOCAL maintenance_work_mem = '256MB';
SET LOCAL synchronous_commit = off;
SET LOCAL jit = off;   -- compiling these big expressions costs more than it saves
-- Every row is built to satisfy the foreign keys (checked set-based at the
-- end, in one query per reference); skipping the per-row RI triggers makes
-- the load several times faster.  Needs a superuser, as `make demo` is.
SET LOCAL session_replication_role = replica;

-- The shop the script loads: the session's (bulkorder.shop, or the only
-- one) when the tables have a shop column (bulkorder 1.2 and later).  What
-- the script reads back of the tables, it reads through these views of that
-- shop's rows; what it inserts goes to that shop (the default of shop_id).
SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute
               WHERE attrelid = 'bulkorder.orders'::regclass AND attname = 'shop_id') AS demo_has_shops \gset
SELECT format('CREATE TEMP VIEW demo_shop_%s AS SELECT * FROM bulkorder.%I%s', t, t,
              CASE WHEN :'demo_has_shops'::boolean THEN ' WHERE shop_id = bulkorder.session_shop_id()' ELSE '' END)
FROM unnest(ARRAY['customers', 'orders', 'order_items', 'products', 'payment_methods', 'delivery_methods',
                  'delivery_time_slots', 'frequencies', 'subscriptions']) AS t \gexec

SELECT (EXISTS (SELECT FROM demo_shop_customers) OR EXISTS (SELECT FROM demo_shop_orders)
        OR EXISTS (SELECT FROM demo_shop_products)) AS demo_not_empty \gset
\if :demo_not_empty
  \echo 'demo-data: the shop already has data; load demo data into a database where CREATE EXTENSION bulkorder has just been done'
  SELECT 1 / 0 AS demo_data_needs_an_empty_shop;
\endif

-- Sizes.
SELECT greatest(50, :orders / 5) AS customers,
       greatest(1, round(:orders * 0.45 / 8))::integer AS subscriptions,
       least(15, greatest(1, :orders / 4)) AS kmax,
       :'today'::date AS today \gset

-- Deterministic randomness: r(x, salt) in [0, 1) and ri(x, salt, n) in
-- [0, n), a hash of the row number x, the attribute's salt and the seed.
-- Created with the seed written into the body so that they stay inlinable.
SELECT format($f$
CREATE FUNCTION pg_temp.r(x bigint, salt integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS 'SELECT (hashint8extended(x, %1$s::bigint * 100003 + salt) & 9007199254740991)::double precision
           / 9007199254740992.0'$f$, :seed)
UNION ALL
SELECT format($f$
CREATE FUNCTION pg_temp.ri(x bigint, salt integer, n integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS 'SELECT ((hashint8extended(x, %1$s::bigint * 100003 + salt) & 2147483647) %% n)::integer'$f$, :seed)
UNION ALL
SELECT $f$
CREATE FUNCTION pg_temp.pick(arr anyarray, x bigint, salt integer) RETURNS anyelement
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS 'SELECT arr[1 + pg_temp.ri(x, salt, cardinality(arr))]'$f$
\gexec
-- w(values, weights): each value repeated weight times, so that
-- pick(w(…), x, salt) is a weighted choice in one hash (the planner folds
-- w() of constants into one constant array).
CREATE FUNCTION pg_temp.w(vals text[], weights integer[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS 'SELECT array_agg(v ORDER BY o, n) FROM unnest(vals, weights) WITH ORDINALITY AS u(v, w, o),
    generate_series(1, w) AS n';

------------------------------------------------------------------------------
-- Masters
------------------------------------------------------------------------------
INSERT INTO bulkorder.customer_ranks (code, name) VALUES
    ('regular', 'レギュラー'), ('silver', 'シルバー'), ('gold', 'ゴールド'), ('platinum', 'プラチナ');

-- All four issue 12-digit tracking numbers with the 7DR check digit (jp12):
-- the shipment import refuses any other (docs/csv.md).
INSERT INTO bulkorder.delivery_methods (code, name, tracking_format) VALUES
    ('yamato', 'ヤマト運輸', 'jp12'), ('sagawa', '佐川急便', 'jp12'), ('yupack', 'ゆうパック', 'jp12'),
    ('nekopos', 'ネコポス', 'jp12');
INSERT INTO bulkorder.delivery_time_slots (delivery_method, code, name) VALUES
    ('yamato', 'am', '午前中'), ('yamato', '14-16', '14時〜16時'), ('yamato', '16-18', '16時〜18時'),
    ('yamato', '18-20', '18時〜20時'), ('yamato', '19-21', '19時〜21時'),
    ('sagawa', 'am', '午前中'), ('sagawa', '12-14', '12時〜14時'), ('sagawa', '14-16', '14時〜16時'),
    ('sagawa', '16-18', '16時〜18時'), ('sagawa', '18-21', '18時〜21時'),
    ('yupack', 'am', '午前中'), ('yupack', '12-14', '12時〜14時'), ('yupack', '14-16', '14時〜16時'),
    ('yupack', '16-18', '16時〜18時'), ('yupack', '18-20', '18時〜20時'), ('yupack', '19-21', '19時〜21時');
-- ネコポス goes into the letterbox: no time slot.

INSERT INTO bulkorder.frequencies (frequency_id, kind, every, day_of_month, name) VALUES
    (1, 'months', 1, NULL, '1ヶ月ごと'),
    (2, 'months', 2, NULL, '2ヶ月ごと'),
    (3, 'months', 3, NULL, '3ヶ月ごと'),
    (4, 'weeks', 2, NULL, '2週間ごと'),
    (5, 'days', 10, NULL, '10日ごと'),
    (6, 'day_of_month', 1, 25, '毎月25日');

-- A product's class decides what it allows.  small: fits ネコポス; normal:
-- parcels; heavy: only ヤマト/佐川 and monthly rhythms; prepaid: 予約・福袋,
-- card or bank transfer only, never on a subscription; gift_*: price-0 goods.
CREATE TEMP TABLE demo_class ON COMMIT DROP AS
SELECT * FROM (VALUES
    ('small',   ARRAY['yamato', 'sagawa', 'yupack', 'nekopos'], NULL::text[], ARRAY[1, 2, 3, 4, 5, 6]::bigint[]),
    ('normal',  ARRAY['yamato', 'sagawa', 'yupack'], NULL, ARRAY[1, 2, 3, 4, 5, 6]::bigint[]),
    ('heavy',   ARRAY['yamato', 'sagawa'], NULL, ARRAY[1, 2, 3, 6]::bigint[]),
    ('prepaid', ARRAY['yamato', 'sagawa'], ARRAY['credit_card', 'bank_transfer'], ARRAY[]::bigint[]),
    ('gift',    ARRAY['yamato', 'sagawa', 'yupack', 'nekopos'], NULL, ARRAY[1, 2, 3, 4, 5, 6]::bigint[]),
    ('gift_card_cod', ARRAY['yamato', 'sagawa', 'yupack', 'nekopos'], ARRAY['credit_card', 'cod'],
                ARRAY[1, 2, 3, 4, 5, 6]::bigint[]),
    ('gift_parcel', ARRAY['yamato', 'sagawa', 'yupack'], NULL, ARRAY[1, 2, 3, 4, 5, 6]::bigint[])
) AS c(class, deliveries, payments, freqs);
UPDATE demo_class SET payments = (SELECT array_agg(code ORDER BY code) FROM demo_shop_payment_methods)
WHERE payments IS NULL;

CREATE TEMP TABLE demo_product ON COMMIT DROP AS
SELECT * FROM (VALUES
    (101, '国産大麦若葉 青汁 30包', 3980, true, 'normal'),
    (102, '国産大麦若葉 青汁 60包', 6980, true, 'normal'),
    (103, 'ホエイプロテイン ココア味 1kg', 4500, true, 'heavy'),
    (104, '植物性乳酸菌サプリ 30粒', 2980, true, 'small'),
    (105, 'DHA・EPA オメガ3 90粒', 3480, true, 'small'),
    (106, 'ビタミンC 1000mg 60粒', 1980, true, 'small'),
    (107, '酵素ドリンク 720ml', 5800, true, 'heavy'),
    (108, '黒酢もろみ 62粒', 2680, true, 'small'),
    (109, 'ヒアルロン酸美容液 30ml', 4980, true, 'small'),
    (110, '薬用美白化粧水 150ml', 3300, true, 'normal'),
    (111, 'オールインワンゲル 80g', 3980, true, 'normal'),
    (112, '馬油ハンドクリーム 50g', 1480, true, 'small'),
    (113, 'スペシャルティコーヒー豆 500g', 2800, true, 'normal'),
    (114, 'ドリップバッグコーヒー 20袋', 1980, true, 'small'),
    (115, '新潟県産コシヒカリ 5kg', 3600, true, 'heavy'),
    (116, '天然水 2L×6本', 1580, true, 'heavy'),
    (117, '無添加ドッグフード 2kg', 4200, true, 'heavy'),
    (118, '国産れんげはちみつ 500g', 3200, true, 'normal'),
    (201, '試供品 プロテインシェイカー', 0, true, 'gift'),
    (202, '冊子「はじめてガイド」', 0, true, 'gift_card_cod'),
    (203, '美容液サンプル 3日分', 0, true, 'gift'),
    (204, 'オリジナル保冷バッグ', 0, true, 'gift_parcel'),
    (205, 'ノベルティ マグカップ', 0, false, 'gift_parcel'),
    (301, '旧パッケージ 青汁 30包', 3500, false, 'normal'),
    (302, '社員販売用 プロテイン 1kg', 2000, false, 'heavy'),
    (401, '2027年 福袋 (予約)', 10800, true, 'prepaid'),
    (402, '紅白おせち 三段重 (予約)', 19800, true, 'prepaid')
) AS p(product_id, name, price, is_public, class);

INSERT INTO bulkorder.products (product_id, name, price, is_public)
SELECT product_id, name, price, is_public FROM demo_product ORDER BY product_id;
INSERT INTO bulkorder.product_payment_methods (product_id, payment_method)
SELECT p.product_id, m FROM demo_product p JOIN demo_class c USING (class), unnest(c.payments) m;
INSERT INTO bulkorder.product_delivery_methods (product_id, delivery_method)
SELECT p.product_id, m FROM demo_product p JOIN demo_class c USING (class), unnest(c.deliveries) m;
INSERT INTO bulkorder.product_frequencies (product_id, frequency_id)
SELECT p.product_id, f FROM demo_product p JOIN demo_class c USING (class), unnest(c.freqs) f;

-- What orders and subscriptions pick from: the public, non-gift products of
-- each class, and each method's time slots.
CREATE TEMP TABLE demo_pick ON COMMIT DROP AS
SELECT c.class, c.deliveries, c.payments, c.freqs,
       coalesce((SELECT array_agg(p.product_id::bigint ORDER BY p.product_id) FROM demo_product p
                 WHERE p.class = c.class AND p.is_public AND p.price > 0), '{}') AS products
FROM demo_class c;
CREATE TEMP TABLE demo_slots ON COMMIT DROP AS
SELECT m.code AS delivery_method,
       coalesce((SELECT array_agg(s.code ORDER BY s.code) FROM demo_shop_delivery_time_slots s
                 WHERE s.delivery_method = m.code), '{}') AS slots
FROM demo_shop_delivery_methods m;

------------------------------------------------------------------------------
-- Customers
------------------------------------------------------------------------------
CREATE TEMP TABLE demo_family ON COMMIT DROP AS
SELECT row_number() OVER () AS i, * FROM (VALUES
    ('佐藤', 'サトウ', 'sato'), ('鈴木', 'スズキ', 'suzuki'), ('高橋', 'タカハシ', 'takahashi'),
    ('田中', 'タナカ', 'tanaka'), ('伊藤', 'イトウ', 'ito'), ('渡辺', 'ワタナベ', 'watanabe'),
    ('山本', 'ヤマモト', 'yamamoto'), ('中村', 'ナカムラ', 'nakamura'), ('小林', 'コバヤシ', 'kobayashi'),
    ('加藤', 'カトウ', 'kato'), ('吉田', 'ヨシダ', 'yoshida'), ('山田', 'ヤマダ', 'yamada'),
    ('佐々木', 'ササキ', 'sasaki'), ('山口', 'ヤマグチ', 'yamaguchi'), ('松本', 'マツモト', 'matsumoto'),
    ('井上', 'イノウエ', 'inoue'), ('木村', 'キムラ', 'kimura'), ('林', 'ハヤシ', 'hayashi'),
    ('斎藤', 'サイトウ', 'saito'), ('清水', 'シミズ', 'shimizu'), ('山崎', 'ヤマザキ', 'yamazaki'),
    ('森', 'モリ', 'mori'), ('池田', 'イケダ', 'ikeda'), ('橋本', 'ハシモト', 'hashimoto'),
    ('阿部', 'アベ', 'abe'), ('石川', 'イシカワ', 'ishikawa'), ('山下', 'ヤマシタ', 'yamashita'),
    ('中島', 'ナカジマ', 'nakajima'), ('石井', 'イシイ', 'ishii'), ('小川', 'オガワ', 'ogawa'),
    ('前田', 'マエダ', 'maeda'), ('岡田', 'オカダ', 'okada'), ('長谷川', 'ハセガワ', 'hasegawa'),
    ('藤田', 'フジタ', 'fujita'), ('後藤', 'ゴトウ', 'goto'), ('近藤', 'コンドウ', 'kondo'),
    ('村上', 'ムラカミ', 'murakami'), ('遠藤', 'エンドウ', 'endo'), ('青木', 'アオキ', 'aoki'),
    ('坂本', 'サカモト', 'sakamoto'), ('福田', 'フクダ', 'fukuda'), ('太田', 'オオタ', 'ota'),
    ('西村', 'ニシムラ', 'nishimura'), ('藤井', 'フジイ', 'fujii'), ('金子', 'カネコ', 'kaneko'),
    ('岡本', 'オカモト', 'okamoto'), ('藤原', 'フジワラ', 'fujiwara'), ('中野', 'ナカノ', 'nakano'),
    ('三浦', 'ミウラ', 'miura'), ('原田', 'ハラダ', 'harada'), ('松田', 'マツダ', 'matsuda'),
    ('竹内', 'タケウチ', 'takeuchi'), ('小野', 'オノ', 'ono'), ('田村', 'タムラ', 'tamura')
) AS f(kanji, kana, romaji);

CREATE TEMP TABLE demo_given ON COMMIT DROP AS
SELECT row_number() OVER () AS i, * FROM (VALUES
    ('太郎', 'タロウ', 'taro'), ('一郎', 'イチロウ', 'ichiro'), ('健太', 'ケンタ', 'kenta'),
    ('翔太', 'ショウタ', 'shota'), ('大輔', 'ダイスケ', 'daisuke'), ('拓也', 'タクヤ', 'takuya'),
    ('直樹', 'ナオキ', 'naoki'), ('誠', 'マコト', 'makoto'), ('浩', 'ヒロシ', 'hiroshi'),
    ('隆', 'タカシ', 'takashi'), ('修', 'オサム', 'osamu'), ('健一', 'ケンイチ', 'kenichi'),
    ('蓮', 'レン', 'ren'), ('悠真', 'ユウマ', 'yuma'), ('陽翔', 'ハルト', 'haruto'),
    ('湊', 'ミナト', 'minato'), ('大翔', 'ヒロト', 'hiroto'), ('和也', 'カズヤ', 'kazuya'),
    ('裕介', 'ユウスケ', 'yusuke'), ('雄一', 'ユウイチ', 'yuichi'), ('花子', 'ハナコ', 'hanako'),
    ('美咲', 'ミサキ', 'misaki'), ('陽子', 'ヨウコ', 'yoko'), ('恵子', 'ケイコ', 'keiko'),
    ('由美子', 'ユミコ', 'yumiko'), ('裕子', 'ユウコ', 'yuko'), ('真由美', 'マユミ', 'mayumi'),
    ('愛', 'アイ', 'ai'), ('さくら', 'サクラ', 'sakura'), ('結衣', 'ユイ', 'yui'),
    ('陽菜', 'ヒナ', 'hina'), ('美穂', 'ミホ', 'miho'), ('千尋', 'チヒロ', 'chihiro'),
    ('彩', 'アヤ', 'aya'), ('舞', 'マイ', 'mai'), ('智子', 'トモコ', 'tomoko'),
    ('直美', 'ナオミ', 'naomi'), ('明美', 'アケミ', 'akemi'), ('久美子', 'クミコ', 'kumiko'),
    ('京子', 'キョウコ', 'kyoko'), ('奈々', 'ナナ', 'nana'), ('香織', 'カオリ', 'kaori'),
    ('紀子', 'ノリコ', 'noriko'), ('芽衣', 'メイ', 'mei'), ('凛', 'リン', 'rin'),
    ('葵', 'アオイ', 'aoi'), ('美和', 'ミワ', 'miwa'), ('早紀', 'サキ', 'saki')
) AS g(kanji, kana, romaji);

-- Cities with the first three digits of their postal codes; the big
-- prefectures appear more than once, so they get more customers.
CREATE TEMP TABLE demo_city ON COMMIT DROP AS
SELECT row_number() OVER () AS i, * FROM (VALUES
    ('北海道', '札幌市中央区', '060'), ('北海道', '旭川市', '070'), ('青森県', '青森市', '030'),
    ('岩手県', '盛岡市', '020'), ('宮城県', '仙台市青葉区', '980'), ('秋田県', '秋田市', '010'),
    ('山形県', '山形市', '990'), ('福島県', '郡山市', '963'), ('茨城県', '水戸市', '310'),
    ('栃木県', '宇都宮市', '320'), ('群馬県', '前橋市', '371'), ('埼玉県', 'さいたま市大宮区', '330'),
    ('埼玉県', '川口市', '332'), ('千葉県', '千葉市中央区', '260'), ('千葉県', '船橋市', '273'),
    ('東京都', '千代田区', '100'), ('東京都', '新宿区', '160'), ('東京都', '世田谷区', '154'),
    ('東京都', '練馬区', '176'), ('東京都', '江東区', '135'), ('東京都', '八王子市', '192'),
    ('東京都', '町田市', '194'), ('神奈川県', '横浜市港北区', '222'), ('神奈川県', '横浜市青葉区', '225'),
    ('神奈川県', '川崎市中原区', '211'), ('神奈川県', '相模原市中央区', '252'), ('新潟県', '新潟市中央区', '951'),
    ('富山県', '富山市', '930'), ('石川県', '金沢市', '920'), ('福井県', '福井市', '910'),
    ('山梨県', '甲府市', '400'), ('長野県', '長野市', '380'), ('岐阜県', '岐阜市', '500'),
    ('静岡県', '静岡市葵区', '420'), ('静岡県', '浜松市中央区', '430'), ('愛知県', '名古屋市中区', '460'),
    ('愛知県', '名古屋市千種区', '464'), ('愛知県', '豊田市', '471'), ('三重県', '津市', '514'),
    ('滋賀県', '大津市', '520'), ('京都府', '京都市中京区', '604'), ('大阪府', '大阪市北区', '530'),
    ('大阪府', '大阪市天王寺区', '543'), ('大阪府', '堺市堺区', '590'), ('大阪府', '豊中市', '560'),
    ('兵庫県', '神戸市中央区', '650'), ('兵庫県', '西宮市', '662'), ('奈良県', '奈良市', '630'),
    ('和歌山県', '和歌山市', '640'), ('鳥取県', '鳥取市', '680'), ('島根県', '松江市', '690'),
    ('岡山県', '岡山市北区', '700'), ('広島県', '広島市中区', '730'), ('山口県', '下関市', '750'),
    ('徳島県', '徳島市', '770'), ('香川県', '高松市', '760'), ('愛媛県', '松山市', '790'),
    ('高知県', '高知市', '780'), ('福岡県', '福岡市博多区', '812'), ('福岡県', '北九州市小倉北区', '802'),
    ('佐賀県', '佐賀市', '840'), ('長崎県', '長崎市', '850'), ('熊本県', '熊本市中央区', '860'),
    ('大分県', '大分市', '870'), ('宮崎県', '宮崎市', '880'), ('鹿児島県', '鹿児島市', '890'),
    ('沖縄県', '那覇市', '900')
) AS c(prefecture, city, postal);

SELECT (SELECT count(*) FROM demo_family) AS n_family, (SELECT count(*) FROM demo_given) AS n_given,
       (SELECT count(*) FROM demo_city) AS n_city \gset

INSERT INTO bulkorder.customers
    (customer_id, name, name_kana, email, postal_code, prefecture, address, blacklist_status,
     rank, mail_opt_in, points, tags, remarks, created_at)
SELECT c,
       f.kanji || ' ' || g.kanji,
       f.kana || ' ' || g.kana,
       g.romaji || '.' || f.romaji || c || '@'
           || pg_temp.pick(ARRAY['example.jp', 'example.com', 'example.ne.jp', 'example.co.jp'], c, 8),
       ci.postal || '-' || lpad(pg_temp.ri(c, 9, 10000)::text, 4, '0'),
       ci.prefecture,
       ci.city
           || pg_temp.pick(ARRAY['本町', '中央', '栄町', '緑町', '旭町', '幸町', '桜台', '若葉', '日の出町',
                                 '松原', '泉町', '東町', '西町', '南町', '北町', '駅前', '富士見',
                                 '青葉台', '柏木', '大手町'], c, 10)
           || (1 + pg_temp.ri(c, 11, 5)) || '丁目' || (1 + pg_temp.ri(c, 12, 30)) || '-'
           || (1 + pg_temp.ri(c, 13, 20))
           || CASE WHEN h.r_building < 0.3
                   THEN ' ' || pg_temp.pick(ARRAY['メゾン桜', 'ハイツ若葉', 'コーポ山田', 'グランドール中央',
                                                  'サンハイム', 'パークサイド本町', 'レジデンス青葉'], c, 14)
                        || ' ' || (100 * (1 + pg_temp.ri(c, 15, 9)) + 1 + pg_temp.ri(c, 16, 10)) || '号室'
                   ELSE '' END,
       h.bl,
       CASE WHEN h.r_rank < 0.55 THEN 'regular' WHEN h.r_rank < 0.80 THEN 'silver'
            WHEN h.r_rank < 0.93 THEN 'gold' WHEN h.r_rank < 0.97 THEN 'platinum' END,
       pg_temp.r(c, 17) < 0.7,
       CASE WHEN pg_temp.r(c, 18) < 0.3 THEN 0 ELSE 10 * pg_temp.ri(c, 19, 500) END,
       array_remove(ARRAY[CASE WHEN h.r_rank >= 0.93 AND h.r_rank < 0.97 THEN 'VIP' END,
                          CASE WHEN pg_temp.r(c, 20) < 0.01 THEN '法人' END,
                          CASE WHEN h.bl <> 'none' THEN '要注意' END], NULL),
       CASE h.bl WHEN 'blacklisted' THEN '受取拒否が続いたためブラックリスト登録'
                 WHEN 'candidate' THEN pg_temp.pick(ARRAY['長期不在による返送 2回', '後払い未入金の督促中'], c, 21)
                 ELSE CASE WHEN pg_temp.r(c, 22) < 0.01 THEN '電話注文を希望されるお客様' END END,
       (:'today'::date - pg_temp.ri(c, 23, 900) + make_interval(secs => pg_temp.ri(c, 24, 86400)))
           AT TIME ZONE 'Asia/Tokyo'
FROM generate_series(1, :customers) AS c
CROSS JOIN LATERAL (
    SELECT 1 + pg_temp.ri(c, 1, :n_family) AS fi,
           1 + pg_temp.ri(c, 2, :n_given) AS gi,
           1 + pg_temp.ri(c, 3, :n_city) AS ci,
           CASE WHEN pg_temp.r(c, 4) < 0.003 THEN 'blacklisted'
                WHEN pg_temp.r(c, 4) < 0.010 THEN 'candidate' ELSE 'none' END AS bl,
           pg_temp.r(c, 5) AS r_rank,
           pg_temp.r(c, 6) AS r_building) AS h
JOIN demo_family f ON f.i = h.fi
JOIN demo_given g ON g.i = h.gi
JOIN demo_city ci ON ci.i = h.ci;

------------------------------------------------------------------------------
-- Subscriptions (定期注文マスター): each has k orders, the last one shipped
-- on last_ship; an active one's next dates follow its frequency.
------------------------------------------------------------------------------
CREATE TEMP TABLE demo_sub ON COMMIT DROP AS
WITH s0 AS (
    SELECT s,
           1 + pg_temp.ri(s, 101, :kmax) AS k,
           1 + pg_temp.ri(s, 102, :customers) AS customer_id,
           pg_temp.pick(pg_temp.w('{active,paused,ended}', '{70,15,15}'), s, 103) AS status,
           pg_temp.pick(pg_temp.w('{small,normal,heavy}', '{45,40,15}'), s, 104) AS class,
           pg_temp.pick(pg_temp.w('{credit_card,np_atobarai,np_atobarai_realtime,gmo_ps_atobarai,dsk_atobarai,'
                                  'score_atobarai,subsc_atobarai_eco,cod,bank_transfer}',
                                  '{40,15,6,8,6,6,6,10,3}'), s, 105) AS payment_method
    FROM generate_series(1, :subscriptions) AS s
), s1 AS (
    SELECT s0.*, pk.products, cardinality(pk.products) AS np,
           pg_temp.pick(pk.deliveries, s, 106) AS delivery_method,
           pg_temp.pick(pk.freqs, s, 107) AS frequency_id,
           pg_temp.ri(s, 108, cardinality(pk.products)) AS i0
    FROM s0 JOIN demo_pick pk USING (class)
), s2 AS (
    SELECT s1.*, sl.slots, f.kind, f.every, f.day_of_month,
           CASE WHEN f.kind = 'days' THEN make_interval(days => f.every)
                WHEN f.kind = 'weeks' THEN make_interval(weeks => f.every)
                WHEN f.kind = 'months' THEN make_interval(months => f.every)
                ELSE interval '1 month' END AS step,
           CASE status WHEN 'active' THEN :'today'::date - 3 + pg_temp.ri(s, 109, 10)
                       WHEN 'paused' THEN :'today'::date - 20 - pg_temp.ri(s, 109, 200)
                       ELSE :'today'::date - 40 - pg_temp.ri(s, 109, 500) END AS last0
    FROM s1
    JOIN demo_slots sl USING (delivery_method)
    JOIN demo_shop_frequencies f USING (frequency_id)
)
SELECT s AS course_order_no, k, customer_id, status, class, payment_method, delivery_method,
       CASE WHEN pg_temp.r(s, 110) < 0.4 OR cardinality(slots) = 0 THEN NULL
            ELSE pg_temp.pick(slots, s, 111) END AS delivery_time_slot,
       frequency_id, kind, every, day_of_month, step,
       -- monthly on the 25th: the last such day on or before last0
       CASE WHEN kind <> 'day_of_month' THEN last0
            WHEN date_trunc('month', last0)::date + day_of_month - 1 <= last0
            THEN date_trunc('month', last0)::date + day_of_month - 1
            ELSE (date_trunc('month', last0) - interval '1 month')::date + day_of_month - 1 END AS last_ship,
       -- the main product (an old subscriber may still be on the non-public
       -- legacy package 301), and a second product for a quarter of them
       CASE WHEN class = 'normal' AND pg_temp.r(s, 112) < 0.08 THEN ARRAY[301::bigint]
            ELSE ARRAY[products[1 + i0]] END
       || CASE WHEN np > 1 AND pg_temp.r(s, 113) < 0.25
               THEN ARRAY[products[1 + (i0 + 1 + pg_temp.ri(s, 114, np - 1)) % np]] ELSE '{}' END AS prods,
       ARRAY[1 + (pg_temp.r(s, 115) < 0.2)::integer, 1] AS qtys,
       status = 'active' AND pg_temp.r(s, 116) < 0.01 AS autogen_error,
       sum(k) OVER (ORDER BY s) - k AS start_u
FROM s2;

INSERT INTO bulkorder.subscriptions
    (course_order_no, customer_id, status, payment_method, delivery_method, delivery_time_slot,
     frequency_id, next_ship_date, next_delivery_date, autogen_error, autogen_error_reason,
     customer_message, reply_message, remarks, integration_text, created_at)
SELECT d.course_order_no, d.customer_id, d.status, d.payment_method, d.delivery_method,
       d.delivery_time_slot, d.frequency_id, n.next_ship,
       n.next_ship + CASE WHEN d.delivery_method = 'nekopos' THEN 1 ELSE 2 END,
       d.autogen_error,
       CASE WHEN d.autogen_error
            THEN pg_temp.pick(ARRAY['クレジットカードの有効期限が切れています', '商品の在庫が不足しています',
                                    '配送先住所が確認できません'], d.course_order_no, 117) END,
       CASE WHEN pg_temp.r(d.course_order_no, 118) < 0.03
            THEN pg_temp.pick(ARRAY['次回から月末のお届けにしてください。', '量が多いので頻度を減らしたいです。',
                                    '宅配ボックスに入れてください。'], d.course_order_no, 119) END,
       CASE WHEN pg_temp.r(d.course_order_no, 118) < 0.01 THEN '承知いたしました。次回お届け分より変更いたします。' END,
       CASE WHEN pg_temp.r(d.course_order_no, 120) < 0.05
            THEN pg_temp.pick(ARRAY['解約防止: 次回10%OFFクーポン案内済み', '電話で頻度変更の相談あり',
                                    '旧パッケージからの切替案内予定'], d.course_order_no, 121) END,
       CASE WHEN pg_temp.r(d.course_order_no, 122) < 0.01 THEN '基幹システム連携済' END,
       ((d.last_ship - (d.k - 1) * d.step)::date - 7 + make_interval(secs => pg_temp.ri(d.course_order_no, 123, 86400)))
           AT TIME ZONE 'Asia/Tokyo'
FROM demo_sub d
CROSS JOIN LATERAL (
    SELECT CASE WHEN d.status <> 'ended'
                THEN bulkorder.frequency_next_date(d.last_ship, d.kind, d.every, d.day_of_month) END
           AS next_ship) AS n;

INSERT INTO bulkorder.subscription_items (course_order_no, product_id, quantity)
SELECT d.course_order_no, x.product_id, x.quantity
FROM demo_sub d, unnest(d.prods, d.qtys[1:cardinality(d.prods)]) AS x(product_id, quantity);

SELECT coalesce(sum(k), 0) AS sub_orders FROM demo_sub \gset
-- statistics for the planner of the big statement below
ANALYZE bulkorder.customers, demo_sub, demo_pick, demo_slots;

------------------------------------------------------------------------------
-- Orders (注文一覧) and their lines, in one statement.  Subscription orders
-- carry course_seq 1..k; one-off orders fill up to :orders, a fifth of them
-- pre-orders (予約) shipping in the coming weeks.  Status follows the
-- scheduled ship date: after today awaiting shipment, the last days being
-- shipped, before that shipped (some cancelled or returned).  Order numbers
-- follow the order date, from 100001.
------------------------------------------------------------------------------
WITH sub_o AS (
    SELECT d.start_u + seq AS u, d.customer_id, d.course_order_no, seq AS course_seq,
           d.payment_method, d.delivery_method, d.delivery_time_slot,
           (d.last_ship - (d.k - seq) * d.step)::date AS sd,
           7 AS lead_days, false AS preorder,
           -- 初回特典: the shaker comes with the first delivery
           d.prods || CASE WHEN seq = 1 THEN ARRAY[201::bigint] ELSE '{}' END AS prods,
           d.qtys[1:cardinality(d.prods)] || 1 AS qtys,
           d.autogen_error AND seq = d.k AS autogen_error
    FROM demo_sub d, generate_series(1, d.k) AS seq
), one0 AS (
    SELECT :sub_orders + g AS u, g,
           pg_temp.pick(pg_temp.w('{small,normal,heavy,prepaid}', '{40,35,17,8}'), g, 201) AS class
    FROM generate_series(1, greatest(0, :orders - :sub_orders)) AS g
), one1 AS (
    SELECT o.*, pk.products, cardinality(pk.products) AS np, pk.payments,
           pg_temp.pick(pk.deliveries, g, 202) AS delivery_method,
           o.class = 'prepaid' OR pg_temp.r(g, 203) < 0.16 AS preorder,
           pg_temp.pick(pg_temp.w('{credit_card,cod,bank_transfer,np_atobarai,np_atobarai_realtime,'
                                  'gmo_ps_atobarai,dsk_atobarai,score_atobarai,subsc_atobarai_eco}',
                                  '{40,12,5,12,6,6,5,7,7}'), g, 204) AS pm0,
           pg_temp.ri(g, 205, cardinality(pk.products)) AS i0,
           1 + (pg_temp.r(g, 206) < 0.22)::integer + (pg_temp.r(g, 206) < 0.08)::integer AS lines
    FROM one0 o JOIN demo_pick pk USING (class)
), one2 AS (
    SELECT o.*,
           CASE WHEN o.pm0 = ANY (o.payments) THEN o.pm0 ELSE 'credit_card' END AS payment_method,
           CASE WHEN o.preorder THEN :'today'::date - 1 - pg_temp.ri(g, 207, 50)
                ELSE :'today'::date - floor(730 * pg_temp.r(g, 207) ^ 1.5)::integer END AS cd
    FROM one1 o
), one_o AS (
    SELECT o.u, 1 + floor(:customers * pg_temp.r(o.g, 208) ^ 1.3)::bigint AS customer_id,
           NULL::bigint AS course_order_no, NULL::integer AS course_seq,
           o.payment_method, o.delivery_method,
           CASE WHEN pg_temp.r(o.g, 209) < 0.4 OR cardinality(sl.slots) = 0 THEN NULL
                ELSE pg_temp.pick(sl.slots, o.g, 210) END AS delivery_time_slot,
           CASE WHEN o.preorder THEN :'today'::date + 1 + pg_temp.ri(o.g, 211, 45)
                ELSE o.cd + 1 + pg_temp.ri(o.g, 211, 3) END AS sd,
           NULL::integer AS lead_days, o.preorder,
           ARRAY[o.products[1 + o.i0]]
           || CASE WHEN least(o.lines, o.np) >= 2 THEN ARRAY[o.products[1 + (o.i0 + 1) % o.np]] ELSE '{}' END
           || CASE WHEN least(o.lines, o.np) >= 3 THEN ARRAY[o.products[1 + (o.i0 + 2) % o.np]] ELSE '{}' END
           || CASE WHEN o.class <> 'prepaid' AND pg_temp.r(o.g, 212) < 0.10 THEN
                  ARRAY[CASE WHEN o.payment_method IN ('credit_card', 'cod') AND pg_temp.r(o.g, 213) < 0.3 THEN 202
                             WHEN o.delivery_method <> 'nekopos' AND pg_temp.r(o.g, 213) < 0.6 THEN 204
                             WHEN pg_temp.r(o.g, 213) < 0.8 THEN 203 ELSE 201 END::bigint]
              ELSE '{}' END AS prods,
           ARRAY[1 + (pg_temp.r(o.g, 214) < 0.15)::integer + (pg_temp.r(o.g, 214) < 0.03)::integer, 1, 1, 1] AS qtys,
           false AS autogen_error,
           o.cd
    FROM one2 o JOIN demo_slots sl USING (delivery_method)
), all_o AS (
    SELECT s.*, (s.sd - s.lead_days) AS cd FROM sub_o s
    UNION ALL
    SELECT * FROM one_o
), st AS (
    SELECT a.*, c.blacklist_status, pm.needs_ship_report,
           CASE WHEN a.sd > :'today'::date
                THEN pg_temp.pick(pg_temp.w('{awaiting_shipment,cancelled}', '{97,3}'), a.u, 301)
                WHEN a.sd >= :'today'::date - 2
                THEN pg_temp.pick(pg_temp.w('{awaiting_shipment,shipping,shipped}', '{3,4,3}'), a.u, 301)
                ELSE pg_temp.pick(pg_temp.w('{shipped,cancelled,returned}', '{92,5,3}'), a.u, 301)
           END AS status,
           (a.cd + make_interval(secs => pg_temp.ri(a.u, 302, 86400))) AT TIME ZONE 'Asia/Tokyo' AS created_at
    FROM all_o a
    JOIN demo_shop_customers c USING (customer_id)
    JOIN demo_shop_payment_methods pm ON pm.code = a.payment_method
), st2 AS (
    SELECT s.*,
           CASE WHEN s.payment_method IN ('cod', 'bank_transfer') THEN 'not_required'
                WHEN s.status = 'awaiting_shipment' THEN
                     CASE WHEN s.payment_method = 'credit_card'
                          THEN pg_temp.pick(pg_temp.w('{ok,ng}', '{99,1}'), s.u, 303)
                          ELSE pg_temp.pick(pg_temp.w('{ok,ng,pending}', '{87,10,3}'), s.u, 303) END
                WHEN s.status = 'cancelled' AND s.payment_method <> 'credit_card'
                     AND pg_temp.r(s.u, 303) < 0.3 THEN 'ng'
                ELSE 'ok' END AS auth_status
    FROM st s
), numbered AS MATERIALIZED (
    SELECT 100000 + row_number() OVER (ORDER BY s.created_at, s.u) AS order_no, s.*
    FROM st2 s
), ins AS (
    INSERT INTO bulkorder.orders
        (order_no, customer_id, course_order_no, course_seq, status, payment_method, auth_status,
         auth_message, ship_report_status, shipping_hold, tags, delivery_method, delivery_time_slot,
         scheduled_ship_date, scheduled_delivery_date, ship_mail_sent, autogen_error,
         customer_message, reply_message, remarks, integration_text, tracking_no, created_at,
         deleted_at)
    SELECT n.order_no, n.customer_id, n.course_order_no, n.course_seq, n.status, n.payment_method,
           n.auth_status,
           CASE WHEN n.auth_status = 'ng' THEN
                CASE n.payment_method
                    WHEN 'credit_card' THEN 'クレジットカードの与信がNGになりました。(G12: カード利用不可)'
                    WHEN 'gmo_ps_atobarai' THEN 'GMO-PS後払いの与信審査が通りませんでした。(審査結果: NG)'
                    WHEN 'dsk_atobarai' THEN 'DSK後払いの与信がNGになりました。'
                    WHEN 'score_atobarai' THEN 'スコア後払いの与信がNGになりました。(与信枠超過)'
                    WHEN 'subsc_atobarai_eco' THEN 'サブスク後払いECOの与信がNGになりました。'
                    -- NP後払い: NG999 can be re-authorized, the other codes cannot
                    ELSE CASE WHEN pg_temp.r(n.u, 304) < 0.6 THEN 'NPの与信がNGになりました。NG999。'
                              ELSE 'NPの与信がNGになりました。NG00' || (1 + pg_temp.ri(n.u, 305, 5)) || '。' END
                END END,
           CASE WHEN NOT n.needs_ship_report THEN 'not_required'
                WHEN n.status = 'shipping' THEN CASE WHEN pg_temp.r(n.u, 306) < 0.25 THEN 'ng' ELSE 'pending' END
                WHEN n.status IN ('shipped', 'returned') THEN 'ok'
                ELSE 'not_required' END,
           n.status IN ('awaiting_shipment', 'shipping')
               AND (n.blacklist_status = 'blacklisted' OR pg_temp.r(n.u, 307) < 0.02),
           array_remove(ARRAY[CASE WHEN n.course_seq = 1 THEN '初回' END,
                              CASE WHEN n.preorder THEN '予約' END,
                              CASE WHEN pg_temp.r(n.u, 308) < 0.04 THEN 'ギフト' END,
                              CASE WHEN n.blacklist_status <> 'none' THEN '要確認' END,
                              CASE WHEN pg_temp.r(n.u, 309) < 0.02 THEN '同梱' END], NULL),
           n.delivery_method, n.delivery_time_slot, n.sd,
           n.sd + CASE WHEN n.delivery_method = 'nekopos' THEN 1 ELSE 1 + pg_temp.ri(n.u, 310, 2) END,
           CASE n.status WHEN 'shipped' THEN true WHEN 'returned' THEN true
                         WHEN 'shipping' THEN pg_temp.r(n.u, 311) < 0.5
                         WHEN 'awaiting_shipment' THEN pg_temp.r(n.u, 311) < 0.01 ELSE false END,
           n.autogen_error,
           CASE WHEN pg_temp.r(n.u, 312) < 0.06
                THEN pg_temp.pick(ARRAY['不在がちのため、置き配を希望します。',
                                        '贈り物のため、金額のわかる明細書は同封しないでください。',
                                        '平日の日中は不在です。土日の配達を希望します。',
                                        '宅配ボックスへの配達をお願いします。',
                                        '前回の商品が少しつぶれていました。梱包を丁寧にお願いします。',
                                        'のし紙(御歳暮)をお願いします。',
                                        '領収書の発行をお願いします。'], n.u, 313) END,
           CASE WHEN pg_temp.r(n.u, 312) < 0.03
                THEN pg_temp.pick(ARRAY['承知いたしました。ご希望のとおり手配いたします。',
                                        'ご連絡ありがとうございます。対応いたします。',
                                        'ご不便をおかけし申し訳ございません。梱包を見直しいたします。'], n.u, 314) END,
           CASE WHEN pg_temp.r(n.u, 315) < 0.03
                THEN pg_temp.pick(ARRAY['電話にて住所変更済み', 'サンプル同梱', '初回特典クーポン適用済み',
                                        '与信NGのためお客様へ連絡中', '商品破損による再送分',
                                        'お客様都合により出荷日変更'], n.u, 316) END,
           CASE WHEN pg_temp.r(n.u, 317) < 0.02
                THEN pg_temp.pick(ARRAY['WMS連携済', '基幹システム取込済', '倉庫B出荷', 'ギフトラッピング有'], n.u, 318) END,
           -- a tracking number as the carriers issue them: eleven digits and
           -- their 7DR check digit (the eleven as a number, modulo 7)
           CASE WHEN n.status IN ('shipping', 'shipped', 'returned')
                THEN (SELECT d || (d::bigint % 7)
                      FROM (SELECT lpad((1 + pg_temp.ri(n.u, 319, 999999999))::text, 11, '4') AS d) t) END,
           n.created_at,
           CASE WHEN n.course_order_no IS NULL AND n.status <> 'shipping' AND pg_temp.r(n.u, 320) < 0.003
                THEN n.created_at + interval '1 day' END
    FROM numbered n
)
INSERT INTO bulkorder.order_items (order_no, product_id, quantity, unit_price)
SELECT n.order_no, x.product_id, x.quantity, p.price
FROM numbered n
CROSS JOIN LATERAL unnest(n.prods, n.qtys[1:cardinality(n.prods)]) AS x(product_id, quantity)
JOIN demo_shop_products p ON p.product_id = x.product_id;

-- The identity sequences continue after the demo's keys.
SELECT setval(pg_get_serial_sequence('bulkorder.customers', 'customer_id'),
              (SELECT max(customer_id) FROM bulkorder.customers)) AS customers,
       setval(pg_get_serial_sequence('bulkorder.subscriptions', 'course_order_no'),
              (SELECT greatest(1, max(course_order_no)) FROM bulkorder.subscriptions)) AS subscriptions,
       setval(pg_get_serial_sequence('bulkorder.orders', 'order_no'),
              (SELECT greatest(1, max(order_no)) FROM bulkorder.orders)) AS orders,
       setval(pg_get_serial_sequence('bulkorder.products', 'product_id'),
              (SELECT max(product_id) FROM bulkorder.products)) AS products,
       setval(pg_get_serial_sequence('bulkorder.frequencies', 'frequency_id'),
              (SELECT max(frequency_id) FROM bulkorder.frequencies)) AS frequencies
\gset demo_seq_

-- The foreign keys the load did not check row by row, checked set-based:
-- every reference must hit.
SELECT
    (SELECT count(*) FROM demo_shop_orders o WHERE NOT EXISTS
        (SELECT FROM demo_shop_customers c WHERE c.customer_id = o.customer_id))
  + (SELECT count(*) FROM demo_shop_orders o WHERE o.course_order_no IS NOT NULL AND NOT EXISTS
        (SELECT FROM demo_shop_subscriptions s WHERE s.course_order_no = o.course_order_no))
  + (SELECT count(*) FROM demo_shop_orders o WHERE o.delivery_time_slot IS NOT NULL AND NOT EXISTS
        (SELECT FROM demo_shop_delivery_time_slots s
         WHERE s.delivery_method = o.delivery_method AND s.code = o.delivery_time_slot))
  + (SELECT count(*) FROM demo_shop_orders o WHERE NOT EXISTS
        (SELECT FROM demo_shop_delivery_methods m WHERE m.code = o.delivery_method))
  + (SELECT count(*) FROM demo_shop_orders o WHERE NOT EXISTS
        (SELECT FROM demo_shop_payment_methods m WHERE m.code = o.payment_method))
  + (SELECT count(*) FROM demo_shop_order_items i WHERE NOT EXISTS
        (SELECT FROM demo_shop_orders o WHERE o.order_no = i.order_no))
  + (SELECT count(*) FROM demo_shop_subscriptions s WHERE NOT EXISTS
        (SELECT FROM demo_shop_customers c WHERE c.customer_id = s.customer_id))
  + (SELECT count(*) FROM demo_shop_subscriptions s WHERE s.delivery_time_slot IS NOT NULL AND NOT EXISTS
        (SELECT FROM demo_shop_delivery_time_slots t
         WHERE t.delivery_method = s.delivery_method AND t.code = s.delivery_time_slot))
  AS demo_dangling \gset
SELECT :demo_dangling > 0 AS demo_broken \gset
\if :demo_broken
  \echo 'demo-data: generated rows that reference nothing:' :demo_dangling
  SELECT 1 / 0 AS demo_data_broke_a_foreign_key;
\endif

COMMIT;
ANALYZE bulkorder.customers, bulkorder.products, bulkorder.subscriptions, bulkorder.subscription_items,
        bulkorder.orders, bulkorder.order_items, bulkorder.delivery_time_slots, bulkorder.frequencies,
        bulkorder.product_payment_methods, bulkorder.product_delivery_methods, bulkorder.product_frequencies;
