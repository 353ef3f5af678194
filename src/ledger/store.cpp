#include "ledger/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sqlite3.h>
#include <unordered_map>
#include <utility>

#include "crypto/random.h"
#include "ledger/sqlite_tiles.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
CREATE TABLE records(idx INTEGER PRIMARY KEY, time INTEGER NOT NULL, leaf BLOB NOT NULL, bytes TEXT NOT NULL) STRICT;
CREATE TABLE checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL) STRICT;
CREATE TABLE accounts(id BLOB PRIMARY KEY, recipient TEXT NOT NULL, name TEXT NOT NULL, balance INTEGER NOT NULL,
                      nonce INTEGER NOT NULL, created INTEGER NOT NULL) STRICT;
CREATE TABLE offers(id INTEGER PRIMARY KEY, owner BLOB NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
                    resource TEXT NOT NULL, price TEXT NOT NULL, enabled INTEGER NOT NULL) STRICT;
CREATE TABLE cvms(id BLOB PRIMARY KEY, key BLOB NOT NULL, recipient TEXT NOT NULL, certificate TEXT NOT NULL,
                  offer INTEGER NOT NULL, provider BLOB NOT NULL, registered_at INTEGER NOT NULL,
                  heartbeat_at INTEGER NOT NULL) STRICT;
CREATE TABLE orders(id INTEGER PRIMARY KEY, creator BLOB NOT NULL, cvm BLOB NOT NULL, engine TEXT NOT NULL,
                    inputs TEXT NOT NULL, outputs TEXT NOT NULL, offers TEXT NOT NULL, deposit INTEGER NOT NULL,
                    status TEXT NOT NULL, created_at INTEGER NOT NULL, started_at INTEGER NOT NULL,
                    ended_at INTEGER NOT NULL, error TEXT NOT NULL, payments TEXT NOT NULL,
                    refund INTEGER NOT NULL) STRICT;
CREATE INDEX orders_by_creator ON orders(creator, id);
CREATE INDEX orders_by_cvm ON orders(cvm, id);
CREATE TABLE reports(order_id INTEGER PRIMARY KEY, report TEXT NOT NULL, idx INTEGER NOT NULL,
                     time INTEGER NOT NULL) STRICT;
)sql";

// Tables added after the first schema: created with it in a new ledger, and
// on opening a ledger made before them (none of its records can have used
// them, so an empty table is their exact state).
constexpr const char* kLaterTables[][2] = {
    {"grants", R"sql(
CREATE TABLE IF NOT EXISTS grants(id BLOB NOT NULL, owner BLOB NOT NULL, orders TEXT NOT NULL,
                                  revoked INTEGER NOT NULL, revoked_at INTEGER NOT NULL,
                                  PRIMARY KEY(id, owner)) STRICT;
)sql"},
    {"start_reports", R"sql(
CREATE TABLE IF NOT EXISTS start_reports(order_id INTEGER PRIMARY KEY, report TEXT NOT NULL, idx INTEGER NOT NULL,
                                         time INTEGER NOT NULL) STRICT;
)sql"},
    {"subscriptions", R"sql(
CREATE TABLE IF NOT EXISTS subscriptions(order_id INTEGER NOT NULL, account BLOB NOT NULL, deposit INTEGER NOT NULL,
                                         charged INTEGER NOT NULL, requests INTEGER NOT NULL,
                                         tokens INTEGER NOT NULL, bytes INTEGER NOT NULL,
                                         created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                                         closed INTEGER NOT NULL, refund INTEGER NOT NULL,
                                         PRIMARY KEY(order_id, account)) STRICT;
)sql"},
};
constexpr const char* kTableExists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?";

// Columns added after the first schema, the same way: a row written before
// one existed holds its exact value, NULL (orders.serve: a batch order).
constexpr const char* kLaterColumns[][3] = {
    {"orders", "serve", "ALTER TABLE orders ADD COLUMN serve TEXT"},
    // NULL: an offer without a failover timeout, an order placed on a CVM.
    {"offers", "timeout", "ALTER TABLE offers ADD COLUMN timeout INTEGER"},
    {"orders", "placement", "ALTER TABLE orders ADD COLUMN placement TEXT"},
    {"cvms", "resources", "ALTER TABLE cvms ADD COLUMN resources TEXT"},
};
constexpr const char* kColumnExists = "SELECT 1 FROM pragma_table_info(?) WHERE name = ?";

constexpr const char* kSelectMeta = "SELECT value FROM meta WHERE key = ?";
constexpr const char* kUpsertMeta = "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)";
constexpr const char* kInsertRecord = "INSERT INTO records(idx, time, leaf, bytes) VALUES(?, ?, ?, ?)";
constexpr const char* kSelectRecords =
    "SELECT idx, time, leaf, bytes FROM records WHERE idx >= ? ORDER BY idx LIMIT ?";
constexpr const char* kInsertCheckpoint = "INSERT INTO checkpoints(size, note) VALUES(?, ?)";
constexpr const char* kLatestCheckpoint = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1";
constexpr const char* kAllCheckpoints = "SELECT size, note FROM checkpoints ORDER BY size";
constexpr const char* kAccountColumns = "SELECT id, recipient, name, balance, nonce, created FROM accounts";
constexpr const char* kSelectAccount =
    "SELECT id, recipient, name, balance, nonce, created FROM accounts WHERE id = ?";
constexpr const char* kPutAccount =
    "INSERT OR REPLACE INTO accounts(id, recipient, name, balance, nonce, created) VALUES(?, ?, ?, ?, ?, ?)";
constexpr const char* kOfferColumns =
    "SELECT id, owner, kind, name, resource, price, enabled, timeout FROM offers";
constexpr const char* kSelectOffer =
    "SELECT id, owner, kind, name, resource, price, enabled, timeout FROM offers WHERE id = ?";
constexpr const char* kPutOffer =
    "INSERT OR REPLACE INTO offers(id, owner, kind, name, resource, price, enabled, timeout) VALUES(?, ?, ?, "
    "?, "
    "?, ?, ?, ?)";
constexpr const char* kCvmColumns =
    "SELECT id, key, recipient, certificate, offer, provider, registered_at, heartbeat_at, resources FROM "
    "cvms";
constexpr const char* kSelectCvm =
    "SELECT id, key, recipient, certificate, offer, provider, registered_at, heartbeat_at, resources FROM "
    "cvms "
    "WHERE id = ?";
constexpr const char* kPutCvm =
    "INSERT OR REPLACE INTO cvms(id, key, recipient, certificate, offer, provider, registered_at, "
    "heartbeat_at, resources) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kOrderColumns =
    "SELECT id, creator, cvm, engine, inputs, outputs, offers, deposit, status, created_at, started_at, "
    "ended_at, "
    "error, payments, refund, serve, placement FROM orders";
constexpr const char* kSelectOrder =
    "SELECT id, creator, cvm, engine, inputs, outputs, offers, deposit, status, created_at, started_at, "
    "ended_at, "
    "error, payments, refund, serve, placement FROM orders WHERE id = ?";
constexpr const char* kFilterOrders =
    "SELECT id, creator, cvm, engine, inputs, outputs, offers, deposit, status, created_at, started_at, "
    "ended_at, "
    "error, payments, refund, serve, placement FROM orders WHERE id >= ?1 AND (?2 IS NULL OR creator = ?2) "
    "AND "
    "(?3 IS NULL OR cvm = ?3) AND (?4 IS NULL OR status = ?4) ORDER BY id LIMIT ?5";
constexpr const char* kPutOrder =
    "INSERT OR REPLACE INTO orders(id, creator, cvm, engine, inputs, outputs, offers, deposit, status, "
    "created_at, "
    "started_at, ended_at, error, payments, refund, serve, placement) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, "
    "?, ?, ?, ?, ?, ?)";
constexpr const char* kReportColumns = "SELECT order_id, report, idx, time FROM reports";
constexpr const char* kSelectReport = "SELECT order_id, report, idx, time FROM reports WHERE order_id = ?";
constexpr const char* kPutReport =
    "INSERT OR REPLACE INTO reports(order_id, report, idx, time) VALUES(?, ?, ?, ?)";
constexpr const char* kStartReportColumns = "SELECT order_id, report, idx, time FROM start_reports";
constexpr const char* kSelectStartReport =
    "SELECT order_id, report, idx, time FROM start_reports WHERE order_id = ?";
constexpr const char* kPutStartReport =
    "INSERT OR REPLACE INTO start_reports(order_id, report, idx, time) VALUES(?, ?, ?, ?)";
constexpr const char* kGrantColumns = "SELECT id, owner, orders, revoked, revoked_at FROM grants";
constexpr const char* kSelectGrant =
    "SELECT id, owner, orders, revoked, revoked_at FROM grants WHERE id = ? AND owner = ?";
constexpr const char* kPutGrant =
    "INSERT OR REPLACE INTO grants(id, owner, orders, revoked, revoked_at) VALUES(?, ?, ?, ?, ?)";
constexpr const char* kSubscriptionColumns =
    "SELECT order_id, account, deposit, charged, requests, tokens, bytes, created_at, updated_at, closed, "
    "refund "
    "FROM subscriptions";
// BLOB order is memcmp order, the order of AccountId's std::array.
constexpr const char* kSelectOrderSubscriptions =
    "SELECT order_id, account, deposit, charged, requests, tokens, bytes, created_at, updated_at, closed, "
    "refund "
    "FROM subscriptions WHERE order_id = ? ORDER BY account";
constexpr const char* kSelectSubscription =
    "SELECT order_id, account, deposit, charged, requests, tokens, bytes, created_at, updated_at, closed, "
    "refund "
    "FROM subscriptions WHERE order_id = ? AND account = ?";
constexpr const char* kPutSubscription =
    "INSERT OR REPLACE INTO subscriptions(order_id, account, deposit, charged, requests, tokens, bytes, "
    "created_at, updated_at, closed, refund) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// Values stored as SQLite INTEGER are at most 2^63-1 (tx.h), so the casts
// between uint64 and int64 are exact.
void bind_one(sqlite3_stmt* s, int i, std::uint64_t v) {
  sqlite3_bind_int64(s, i, static_cast<sqlite3_int64>(v));
}
void bind_one(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
void bind_one(sqlite3_stmt* s, int i, ByteView v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
void bind_one(sqlite3_stmt* s, int i, const std::string& v) {
  bind_one(s, i, std::string_view(v));
}
void bind_one(sqlite3_stmt* s, int i, const std::array<std::uint8_t, 32>& v) {
  bind_one(s, i, ByteView(v));
}
void bind_one(sqlite3_stmt* s, int i, const std::optional<std::uint64_t>& v) {
  if (v) {
    bind_one(s, i, *v);
  } else {
    sqlite3_bind_null(s, i);
  }
}
void bind_one(sqlite3_stmt* s, int i, const std::optional<std::string>& v) {
  if (v) {
    bind_one(s, i, *v);
  } else {
    sqlite3_bind_null(s, i);
  }
}

std::uint64_t col_u64(sqlite3_stmt* s, int i) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(s, i));
}
std::string col_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}
Bytes col_blob(sqlite3_stmt* s, int i) {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
  return p ? Bytes(p, p + sqlite3_column_bytes(s, i)) : Bytes();
}
std::array<std::uint8_t, 32> col_id(sqlite3_stmt* s, int i) {
  std::array<std::uint8_t, 32> out{};
  const Bytes b = col_blob(s, i);
  if (b.size() == out.size()) std::copy(b.begin(), b.end(), out.begin());
  return out;
}

OfferKind parse_kind(std::string_view k) {
  if (k == "dataset") return OfferKind::Dataset;
  if (k == "model") return OfferKind::Model;
  if (k == "tee") return OfferKind::Tee;
  return OfferKind::Engine;
}

Price price_from_json(const json& j) {
  Price p;
  const std::string model = j.value("model", "");
  if (model == "revenue_share") {
    p.model = PriceModel::RevenueShare;
    p.bps = j.value("bps", 0u);
  } else {
    p.model = model == "per_hour" ? PriceModel::PerHour : PriceModel::Fixed;
    p.amount = j.value("amount", std::uint64_t{0});
  }
  return p;
}

Account account_row(sqlite3_stmt* s) {
  return Account{col_id(s, 0), col_text(s, 1), col_text(s, 2), col_u64(s, 3), col_u64(s, 4), col_u64(s, 5)};
}

Offer offer_row(sqlite3_stmt* s) {
  return Offer{col_u64(s, 0),
               col_id(s, 1),
               parse_kind(col_text(s, 2)),
               col_text(s, 3),
               col_text(s, 4),
               price_from_json(json::parse(col_text(s, 5), nullptr, false)),
               col_u64(s, 6) != 0,
               sqlite3_column_type(s, 7) == SQLITE_NULL ? 0 : col_u64(s, 7)};
}

Cvm cvm_row(sqlite3_stmt* s) {
  Cvm c{col_id(s, 0),  col_id(s, 1), col_text(s, 2), col_text(s, 3),
        col_u64(s, 4), col_id(s, 5), col_u64(s, 6),  col_u64(s, 7)};
  if (sqlite3_column_type(s, 8) != SQLITE_NULL)
    c.resources = resources_from_json(json::parse(col_text(s, 8), nullptr, false));
  return c;
}

// Vectors are stored as JSON arrays; the rows were written by this file, so a
// value of another shape only arises from corruption, and reads back empty,
// which verify() then reports as a difference.
template <class T>
std::vector<T> json_vector(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  std::vector<T> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    } else {
      if (v.is_number_unsigned()) out.push_back(v.get<std::uint64_t>());
    }
  }
  return out;
}

std::vector<Payment> payments_from_json(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  std::vector<Payment> out;
  if (!j.is_array()) return out;
  for (const auto& p : j) {
    if (!p.is_object()) continue;
    Payment payment;
    payment.offer = p.value("offer", std::uint64_t{0});
    if (auto to = parse_id(p.value("to", "")); to) payment.to = *to;
    payment.price = price_from_json(p.value("price", json::object()));
    payment.amount = p.value("amount", std::uint64_t{0});
    out.push_back(payment);
  }
  return out;
}

// An order placed on a tee offer: the offer, the time billed on failed CVMs,
// what a CVM needs to take it.
json placement_json(const Order& o) {
  json out = {{"offer", o.tee_offer}, {"billed", o.billed}};
  if (o.needs) out["needs"] = to_json(*o.needs);
  return out;
}

Order order_row(sqlite3_stmt* s) {
  Order o;
  o.id = col_u64(s, 0);
  o.creator = col_id(s, 1);
  o.cvm = col_id(s, 2);
  o.engine = col_text(s, 3);
  o.inputs = json_vector<std::string>(col_text(s, 4));
  o.outputs = json_vector<std::string>(col_text(s, 5));
  o.offers = json_vector<std::uint64_t>(col_text(s, 6));
  o.deposit = col_u64(s, 7);
  o.status = parse_order_status(col_text(s, 8)).value_or(OrderStatus::New);
  o.created_at = col_u64(s, 9);
  o.started_at = col_u64(s, 10);
  o.ended_at = col_u64(s, 11);
  o.error = col_text(s, 12);
  o.payments = payments_from_json(col_text(s, 13));
  o.refund = col_u64(s, 14);
  if (sqlite3_column_type(s, 15) != SQLITE_NULL) {
    auto serve = service_terms_from_json(json::parse(col_text(s, 15), nullptr, false));
    if (serve) o.serve = std::move(*serve);
  }
  if (sqlite3_column_type(s, 16) != SQLITE_NULL) {
    const json placement = json::parse(col_text(s, 16), nullptr, false);
    if (placement.is_object()) {
      o.tee_offer = placement.value("offer", std::uint64_t{0});
      o.billed = placement.value("billed", std::uint64_t{0});
      if (const auto needs = placement.find("needs"); needs != placement.end())
        o.needs = resources_from_json(*needs);
    }
  }
  return o;
}

Report report_row(sqlite3_stmt* s) {
  return Report{col_u64(s, 0), col_text(s, 1), col_u64(s, 2), col_u64(s, 3)};
}

Grant grant_row(sqlite3_stmt* s) {
  return Grant{col_id(s, 0), col_id(s, 1), json_vector<std::uint64_t>(col_text(s, 2)), col_u64(s, 3) != 0,
               col_u64(s, 4)};
}

Subscription subscription_row(sqlite3_stmt* s) {
  return Subscription{col_u64(s, 0), col_id(s, 1),       col_u64(s, 2), col_u64(s, 3),
                      col_u64(s, 4), col_u64(s, 5),      col_u64(s, 6), col_u64(s, 7),
                      col_u64(s, 8), col_u64(s, 9) != 0, col_u64(s, 10)};
}

}  // namespace

struct Store::Impl {
  sqlite3* db = nullptr;
  std::unordered_map<const char*, Stmt> statements;
  std::optional<SqliteTileStore> tiles;

  class SqliteState final : public State {
   public:
    explicit SqliteState(Impl& impl) : impl_(impl) {}
    LedgerInfo info() const override { return info_; }
    std::optional<Account> account(const AccountId& id) const override {
      return impl_.get_one(kSelectAccount, account_row, error_, id);
    }
    std::optional<Offer> offer(std::uint64_t id) const override {
      return impl_.get_one(kSelectOffer, offer_row, error_, id);
    }
    std::optional<Cvm> cvm(const CvmId& id) const override {
      return impl_.get_one(kSelectCvm, cvm_row, error_, id);
    }
    std::optional<Order> order(std::uint64_t id) const override {
      return impl_.get_one(kSelectOrder, order_row, error_, id);
    }
    std::optional<Report> report(std::uint64_t order) const override {
      return impl_.get_one(kSelectReport, report_row, error_, order);
    }
    std::optional<Report> start_report(std::uint64_t order) const override {
      return impl_.get_one(kSelectStartReport, report_row, error_, order);
    }
    std::optional<Grant> grant(const GrantId& id, const AccountId& owner) const override {
      return impl_.get_one(kSelectGrant, grant_row, error_, id, owner);
    }
    std::optional<Subscription> subscription(std::uint64_t order, const AccountId& account) const override {
      return impl_.get_one(kSelectSubscription, subscription_row, error_, order, account);
    }
    std::vector<Subscription> subscriptions(std::uint64_t order) const override {
      std::vector<Subscription> out;
      keep(impl_.query(
          kSelectOrderSubscriptions, [&](sqlite3_stmt* s) { out.push_back(subscription_row(s)); }, order));
      return out;
    }
    Totals totals() const override {
      auto supply = impl_.meta_u64("supply");
      auto escrow = impl_.meta_u64("escrow");
      if (!supply || !escrow) {
        keep(supply ? escrow.error() : supply.error());
        return {};
      }
      return Totals{*supply, *escrow};
    }
    void put(const Account& a) override {
      keep(impl_.exec(kPutAccount, a.id, a.recipient, a.name, a.balance, a.nonce, a.created));
    }
    void put(const Offer& o) override {
      keep(impl_.exec(kPutOffer, o.id, o.owner, std::string(to_string(o.kind)), o.name, o.resource,
                      price_json(o.price).dump(), std::uint64_t{o.enabled},
                      o.timeout != 0 ? std::optional<std::uint64_t>(o.timeout) : std::nullopt));
    }
    void put(const Cvm& c) override {
      keep(impl_.exec(kPutCvm, c.id, c.key, c.recipient, c.certificate, c.offer, c.provider, c.registered_at,
                      c.heartbeat_at,
                      c.resources ? std::optional<std::string>(to_json(*c.resources).dump()) : std::nullopt));
    }
    void put(const Order& o) override {
      const json full = to_json(o);
      keep(impl_.exec(
          kPutOrder, o.id, o.creator, o.cvm, o.engine, full["inputs"].dump(), full["outputs"].dump(),
          full["offers"].dump(), o.deposit, std::string(to_string(o.status)), o.created_at, o.started_at,
          o.ended_at, o.error, full["payments"].dump(), o.refund,
          o.serve ? std::optional<std::string>(full["serve"].dump()) : std::nullopt,
          o.tee_offer != 0 ? std::optional<std::string>(placement_json(o).dump()) : std::nullopt));
    }
    void put(const Report& r) override { keep(impl_.exec(kPutReport, r.order, r.report, r.index, r.time)); }
    void put_start_report(const Report& r) override {
      keep(impl_.exec(kPutStartReport, r.order, r.report, r.index, r.time));
    }
    void put(const Grant& g) override {
      keep(impl_.exec(kPutGrant, g.id, g.owner, json(g.orders).dump(), std::uint64_t{g.revoked},
                      g.revoked_at));
    }
    void put(const Subscription& s) override {
      keep(impl_.exec(kPutSubscription, s.order, s.account, s.deposit, s.charged, s.requests, s.tokens,
                      s.bytes, s.created_at, s.updated_at, std::uint64_t{s.closed}, s.refund));
    }
    void put(const Totals& t) override {
      keep(impl_.exec(kUpsertMeta, std::string_view("supply"), t.supply));
      keep(impl_.exec(kUpsertMeta, std::string_view("escrow"), t.escrow));
    }

    void set_info(const LedgerInfo& info) { info_ = info; }
    Result<void> take_error() {
      if (!error_) return {};
      Error e = *error_;
      error_.reset();
      return std::unexpected(e);
    }

   private:
    void keep(const Result<void>& r) const {
      if (!r && !error_) error_ = r.error();
    }
    void keep(const Error& e) const {
      if (!error_) error_ = e;
    }
    Impl& impl_;
    LedgerInfo info_;
    mutable std::optional<Error> error_;
  };
  SqliteState state{*this};

  ~Impl() {
    statements.clear();
    tiles.reset();
    if (db) sqlite3_close(db);
  }

  Error error(const std::string& what) const {
    return Error("ledger.store", what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
  }

  Result<sqlite3_stmt*> prepare(const char* sql) {
    if (auto it = statements.find(sql); it != statements.end()) {
      sqlite3_reset(it->second.get());
      sqlite3_clear_bindings(it->second.get());
      return it->second.get();
    }
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return std::unexpected(error("preparing a statement"));
    }
    statements.emplace(sql, Stmt(raw));
    return raw;
  }

  template <class... A>
  Result<sqlite3_stmt*> bound(const char* sql, const A&... args) {
    auto s = prepare(sql);
    if (!s) return s;
    int i = 0;
    (bind_one(*s, ++i, args), ...);
    return s;
  }

  template <class... A>
  Result<void> exec(const char* sql, const A&... args) {
    auto s = bound(sql, args...);
    if (!s) return std::unexpected(s.error());
    const int rc = sqlite3_step(*s);
    sqlite3_reset(*s);
    if (rc != SQLITE_DONE) return std::unexpected(error("writing"));
    return {};
  }

  // Runs a query, calling `row` for each result row.
  template <class F, class... A>
  Result<void> query(const char* sql, F&& row, const A&... args) {
    auto s = bound(sql, args...);
    if (!s) return std::unexpected(s.error());
    for (;;) {
      const int rc = sqlite3_step(*s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        sqlite3_reset(*s);
        return std::unexpected(error("reading"));
      }
      row(*s);
    }
    sqlite3_reset(*s);
    return {};
  }

  template <class Row, class... A>
  auto get_one(const char* sql, Row row, std::optional<Error>& err, const A&... args)
      -> std::optional<decltype(row(nullptr))> {
    std::optional<decltype(row(nullptr))> out;
    auto ok = query(
        sql, [&](sqlite3_stmt* s) { out = row(s); }, args...);
    if (!ok && !err) err = ok.error();
    return out;
  }

  Result<void> exec_script(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "unknown error";
      sqlite3_free(message);
      return fail("ledger.store", text);
    }
    return {};
  }

  Result<std::uint64_t> meta_u64(std::string_view key) {
    std::optional<std::uint64_t> value;
    auto ok = query(
        kSelectMeta, [&](sqlite3_stmt* s) { value = col_u64(s, 0); }, key);
    if (!ok) return std::unexpected(ok.error());
    if (!value)
      return fail("ledger.store", "the database is not a Ward ledger (no " + std::string(key) + ")");
    return *value;
  }

  Result<Bytes> meta_blob(std::string_view key) {
    std::optional<Bytes> value;
    auto ok = query(
        kSelectMeta, [&](sqlite3_stmt* s) { value = col_blob(s, 0); }, key);
    if (!ok) return std::unexpected(ok.error());
    if (!value)
      return fail("ledger.store", "the database is not a Ward ledger (no " + std::string(key) + ")");
    return *value;
  }

  static Result<std::unique_ptr<Impl>> connect(const std::filesystem::path& path) {
    auto impl = std::make_unique<Impl>();
    if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      return fail("ledger.store", "opening " + path.string() + ": " + sqlite3_errmsg(impl->db));
    }
    sqlite3_busy_timeout(impl->db, 10000);
    if (auto ok = impl->exec_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA "
                                    "cache_size=-65536; PRAGMA foreign_keys=OFF;");
        !ok) {
      return fail(ok.error(), "opening " + path.string());
    }
    return impl;
  }

  Result<void> create_later_tables() {
    for (const auto& [name, sql] : kLaterTables) {
      bool exists = false;
      auto ok = query(
          kTableExists, [&](sqlite3_stmt*) { exists = true; }, std::string_view(name));
      if (!ok) return ok;
      if (exists) continue;
      if (auto made = exec_script(sql); !made)
        return fail(made.error(), std::string("creating table ") + name);
    }
    return {};
  }

  Result<void> add_later_columns() {
    for (const auto& [table, column, sql] : kLaterColumns) {
      bool exists = false;
      auto ok = query(
          kColumnExists, [&](sqlite3_stmt*) { exists = true; }, std::string_view(table),
          std::string_view(column));
      if (!ok) return ok;
      if (exists) continue;
      if (auto added = exec_script(sql); !added) {
        return fail(added.error(), std::string("adding column ") + table + "." + column);
      }
    }
    return {};
  }

  Result<void> attach_tiles() {
    auto t = SqliteTileStore::open(db);
    if (!t) return std::unexpected(t.error());
    tiles.emplace(std::move(*t));
    return {};
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Result<Store> Store::create(const std::filesystem::path& path, const LedgerInfo& info,
                            const crypto::SecretBytes& seed) {
  if (std::filesystem::exists(path)) {
    return fail("ledger.exists", path.string() + " exists; a new ledger needs a new file");
  }
  // Built under a temporary name and linked into place complete, so a crash
  // during init never leaves a half-made ledger at `path`.
  const std::filesystem::path temp = path.string() + ".init-" + hex_encode(crypto::random_bytes(8));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail("ledger.store", "creating " + temp.string() + ": " + std::strerror(errno));
  ::close(fd);
  Result<void> ok;
  {
    auto impl = Impl::connect(temp);
    if (!impl) {
      std::filesystem::remove(temp);
      return std::unexpected(impl.error());
    }
    Impl& db = **impl;
    ok = db.exec_script("BEGIN IMMEDIATE");
    if (ok) ok = db.exec_script(kSchema);
    if (ok) ok = db.create_later_tables();
    if (ok) ok = db.add_later_columns();
    if (ok) ok = db.exec(kUpsertMeta, std::string_view("ledger_id"), info.id);
    if (ok) ok = db.exec(kUpsertMeta, std::string_view("dev"), std::uint64_t{info.dev});
    if (ok) ok = db.exec(kUpsertMeta, std::string_view("seed"), ByteView(crypto::view(seed)));
    for (const char* key : {"size", "last_time", "supply", "escrow"}) {
      if (ok) ok = db.exec(kUpsertMeta, std::string_view(key), std::uint64_t{0});
    }
    if (ok) ok = db.attach_tiles();
    if (ok) ok = db.exec_script("COMMIT");
  }  // closing the only connection folds the WAL into the file
  if (ok && ::link(temp.c_str(), path.c_str()) != 0) {
    ok = errno == EEXIST ? fail("ledger.exists", path.string() + " exists; a new ledger needs a new file")
                         : fail("ledger.store", "creating " + path.string() + ": " + std::strerror(errno));
  }
  std::filesystem::remove(temp);
  if (!ok) return fail(ok.error(), "creating " + path.string());
  const int dir =
      ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return open(path);
}

Result<Store> Store::open(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return fail("ledger.store", path.string() + " does not exist");
  auto impl = Impl::connect(path);
  if (!impl) return std::unexpected(impl.error());
  if (auto ok = (*impl)->attach_tiles(); !ok) return fail(ok.error(), "opening " + path.string());
  Store store(std::move(*impl));
  auto meta = store.meta();
  if (!meta) return fail(meta.error(), "opening " + path.string());
  if (auto ok = store.impl_->create_later_tables(); !ok) return fail(ok.error(), "opening " + path.string());
  if (auto ok = store.impl_->add_later_columns(); !ok) return fail(ok.error(), "opening " + path.string());
  store.impl_->state.set_info(meta->info);
  return store;
}

Result<Store::Meta> Store::meta() {
  Meta m;
  auto id = impl_->meta_blob("ledger_id");
  if (!id) return std::unexpected(id.error());
  auto seed = impl_->meta_blob("seed");
  if (!seed) return std::unexpected(seed.error());
  if (id->size() != 32 || seed->size() != 32)
    return fail("ledger.store", "the ledger's id or seed is damaged");
  std::copy(id->begin(), id->end(), m.info.id.begin());
  m.seed = crypto::to_secret(*seed);
  crypto::cleanse(seed->data(), seed->size());
  auto dev = impl_->meta_u64("dev");
  if (!dev) return std::unexpected(dev.error());
  m.info.dev = *dev != 0;
  auto size = impl_->meta_u64("size");
  if (!size) return std::unexpected(size.error());
  m.size = *size;
  auto last_time = impl_->meta_u64("last_time");
  if (!last_time) return std::unexpected(last_time.error());
  m.last_time = *last_time;
  return m;
}

Result<void> Store::set_progress(std::uint64_t size, std::uint64_t last_time) {
  if (auto ok = impl_->exec(kUpsertMeta, std::string_view("size"), size); !ok) return ok;
  return impl_->exec(kUpsertMeta, std::string_view("last_time"), last_time);
}

Result<void> Store::begin_write() {
  return impl_->exec_script("BEGIN IMMEDIATE");
}
Result<void> Store::begin_read() {
  return impl_->exec_script("BEGIN DEFERRED");
}
Result<void> Store::end() {
  return impl_->exec_script("COMMIT");
}
void Store::rollback() {
  if (!sqlite3_get_autocommit(impl_->db)) (void)impl_->exec_script("ROLLBACK");
  (void)impl_->state.take_error();
}

State& Store::state() {
  return impl_->state;
}
Result<void> Store::take_state_error() {
  return impl_->state.take_error();
}
TileStore& Store::tiles() {
  return *impl_->tiles;
}

Result<void> Store::insert_record(const StoredRecord& r) {
  return impl_->exec(kInsertRecord, r.index, r.time, r.leaf, r.bytes);
}

Result<std::optional<StoredRecord>> Store::record(std::uint64_t index) {
  auto rs = records(index, 1);
  if (!rs) return std::unexpected(rs.error());
  if (rs->empty() || rs->front().index != index) return std::optional<StoredRecord>();
  return std::optional<StoredRecord>(std::move(rs->front()));
}

Result<std::vector<StoredRecord>> Store::records(std::uint64_t first, std::size_t max) {
  std::vector<StoredRecord> out;
  auto ok = impl_->query(
      kSelectRecords,
      [&](sqlite3_stmt* s) {
        out.push_back(StoredRecord{col_u64(s, 0), col_u64(s, 1), col_id(s, 2), col_text(s, 3)});
      },
      first, static_cast<std::uint64_t>(std::min<std::size_t>(max, kMaxAmount)));
  if (!ok) return std::unexpected(ok.error());
  return out;
}

Result<void> Store::insert_checkpoint(const StoredCheckpoint& c) {
  return impl_->exec(kInsertCheckpoint, c.size, c.note);
}

Result<std::optional<StoredCheckpoint>> Store::latest_checkpoint() {
  std::optional<StoredCheckpoint> out;
  auto ok = impl_->query(kLatestCheckpoint, [&](sqlite3_stmt* s) {
    out = StoredCheckpoint{col_u64(s, 0), col_text(s, 1)};
  });
  if (!ok) return std::unexpected(ok.error());
  return out;
}

Result<std::vector<StoredCheckpoint>> Store::checkpoints() {
  std::vector<StoredCheckpoint> out;
  auto ok = impl_->query(kAllCheckpoints, [&](sqlite3_stmt* s) {
    out.push_back(StoredCheckpoint{col_u64(s, 0), col_text(s, 1)});
  });
  if (!ok) return std::unexpected(ok.error());
  return out;
}

Result<std::vector<Offer>> Store::offers() {
  std::vector<Offer> out;
  auto ok = impl_->query(kOfferColumns, [&](sqlite3_stmt* s) { out.push_back(offer_row(s)); });
  if (!ok) return std::unexpected(ok.error());
  return out;
}

Result<std::vector<Cvm>> Store::cvms() {
  std::vector<Cvm> out;
  auto ok = impl_->query(kCvmColumns, [&](sqlite3_stmt* s) { out.push_back(cvm_row(s)); });
  if (!ok) return std::unexpected(ok.error());
  return out;
}

Result<std::vector<Order>> Store::orders(const OrderFilter& filter) {
  auto s = impl_->bound(kFilterOrders, filter.first_id);
  if (!s) return std::unexpected(s.error());
  if (filter.creator) bind_one(*s, 2, *filter.creator);
  if (filter.cvm) bind_one(*s, 3, *filter.cvm);
  const std::string status = filter.status ? std::string(to_string(*filter.status)) : std::string();
  if (filter.status) bind_one(*s, 4, status);
  bind_one(*s, 5, static_cast<std::uint64_t>(std::min<std::size_t>(filter.limit, kMaxAmount)));
  std::vector<Order> out;
  for (;;) {
    const int rc = sqlite3_step(*s);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      sqlite3_reset(*s);
      return std::unexpected(impl_->error("reading orders"));
    }
    out.push_back(order_row(*s));
  }
  sqlite3_reset(*s);
  return out;
}

Result<Snapshot> Store::snapshot() {
  Snapshot snap;
  auto ok = impl_->query(kAccountColumns, [&](sqlite3_stmt* s) {
    auto a = account_row(s);
    snap.accounts[a.id] = std::move(a);
  });
  if (ok)
    ok = impl_->query(kOfferColumns, [&](sqlite3_stmt* s) {
      auto o = offer_row(s);
      snap.offers[o.id] = std::move(o);
    });
  if (ok)
    ok = impl_->query(kCvmColumns, [&](sqlite3_stmt* s) {
      auto c = cvm_row(s);
      snap.cvms[c.id] = std::move(c);
    });
  if (ok)
    ok = impl_->query(kOrderColumns, [&](sqlite3_stmt* s) {
      auto o = order_row(s);
      snap.orders[o.id] = std::move(o);
    });
  if (ok)
    ok = impl_->query(kReportColumns, [&](sqlite3_stmt* s) {
      auto r = report_row(s);
      snap.reports[r.order] = std::move(r);
    });
  if (ok)
    ok = impl_->query(kStartReportColumns, [&](sqlite3_stmt* s) {
      auto r = report_row(s);
      snap.start_reports[r.order] = std::move(r);
    });
  if (ok)
    ok = impl_->query(kGrantColumns, [&](sqlite3_stmt* s) {
      auto g = grant_row(s);
      snap.grants[GrantKey{g.id, g.owner}] = std::move(g);
    });
  if (ok)
    ok = impl_->query(kSubscriptionColumns, [&](sqlite3_stmt* s) {
      auto sub = subscription_row(s);
      snap.subscriptions[SubscriptionKey{sub.order, sub.account}] = std::move(sub);
    });
  if (!ok) return std::unexpected(ok.error());
  snap.totals = impl_->state.totals();
  if (auto e = impl_->state.take_error(); !e) return std::unexpected(e.error());
  return snap;
}

}  // namespace ward::ledger
