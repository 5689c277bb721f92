// A thin RAII layer over sqlite3: a database handle and prepared statements
// that report failures as absl::Status. Not thread-safe; the Store locks.
#ifndef EBATS_LIBS_STORE_SQLITE_DB_H_
#define EBATS_LIBS_STORE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ebats::store {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite. Text and blobs are copied.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);
  // Steps once: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion (for writes), then resets for reuse.
  absl::Status Run();
  // Clears bindings and rewinds, so the statement can run again.
  void Reset();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// A cached statement on loan: rewound when the loan ends, so no statement
// keeps a read transaction open between calls.
class StatementLease {
 public:
  explicit StatementLease(Statement* statement) : statement_(statement) {}
  StatementLease(StatementLease&& other) noexcept
      : statement_(other.statement_) {
    other.statement_ = nullptr;
  }
  StatementLease& operator=(StatementLease&&) = delete;
  ~StatementLease() {
    if (statement_ != nullptr) statement_->Reset();
  }
  Statement* operator->() const { return statement_; }
  Statement& operator*() const { return *statement_; }

 private:
  Statement* statement_;
};

class Database {
 public:
  // Opens (creating if needed) the file at `path`; ":memory:" is in-memory.
  // UNAVAILABLE when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path);
  ~Database() {
    statements_.clear();
    sqlite3_close(db_);
  }

  // Runs one or more statements without results.
  absl::Status Exec(absl::string_view sql);
  // The statement for `sql`, compiled on first use and kept (parsing SQL
  // per call was a visible share of the scheduler's CPU), rewound and with
  // no bindings, on loan until the lease is destroyed. Do not hold two
  // leases of the same SQL at once. INTERNAL with SQLite's message when
  // `sql` does not compile.
  absl::StatusOr<StatementLease> Prepare(absl::string_view sql);
  // Rows changed by the last write.
  int Changes() const { return sqlite3_changes(db_); }
  // Copies what the write-ahead log holds into the database file, as far as
  // it can without waiting for readers or writers (a passive checkpoint).
  // INTERNAL with SQLite's message when it fails.
  absl::Status CheckpointWal();

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  // Declared after db_ so statements are finalized before the handle closes.
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> statements_;
};

}  // namespace ebats::store

#endif  // EBATS_LIBS_STORE_SQLITE_DB_H_
