#include "libs/store/sqlite_db.h"

#include "absl/strings/str_cat.h"

namespace ebats::store {

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, absl::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindBlob(int index, absl::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return absl::InternalError(absl::StrCat("store: ", sqlite3_errmsg(db_)));
}

absl::Status Statement::Run() {
  absl::StatusOr<bool> row;
  do {
    row = Step();
  } while (row.ok() && *row);
  Reset();
  return row.status();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::Text(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return data == nullptr ? std::string()
                         : std::string(static_cast<const char*>(data), size);
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(
    const std::string& path) {
  // Memory statistics take a process-wide mutex on every allocation and
  // nothing here reads them. Only possible before SQLite initializes; a
  // later call fails harmlessly.
  static const int kNoMemoryStatistics =
      sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)kNoMemoryStatistics;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(
        absl::StrCat("store: cannot open ", path, ": ", message));
  }
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<Database>(new Database(db));
}

absl::Status Database::Exec(absl::string_view sql) {
  char* error = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(absl::StrCat("store: ", message));
  }
  return absl::OkStatus();
}

absl::Status Database::CheckpointWal() {
  if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                nullptr, nullptr) != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("store: checkpoint: ", sqlite3_errmsg(db_)));
  }
  return absl::OkStatus();
}

absl::StatusOr<StatementLease> Database::Prepare(absl::string_view sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    it->second->Reset();
    return StatementLease(it->second.get());
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("store: cannot prepare \"", sql,
                                            "\": ", sqlite3_errmsg(db_)));
  }
  auto [inserted, ok] = statements_.emplace(
      std::string(sql), std::make_unique<Statement>(db_, stmt));
  return StatementLease(inserted->second.get());
}

}  // namespace ebats::store
