// ward keys new | show: a party's identity file and its public keys.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "keys/party_key.h"

namespace ward::cli {
namespace {

struct NewArgs {
  std::string output;
  bool json = false;
};

struct ShowArgs {
  std::string path;
  bool json = false;
};

// The EVM address is derived on demand; a key whose derivation fails (a
// 2^-128 chance) has none, and says so.
std::string evm_address(const keys::PartyKey& key) {
  auto evm = key.evm_key();
  return evm ? evm->address().to_checksum() : "none (" + evm.error().message + ")";
}

nlohmann::ordered_json public_keys_json(const keys::PartyKey& key) {
  return {{"recipient", key.recipient().to_string()},
          {"signing_public_key", hex_encode(key.signing_public_key())},
          {"evm_address", evm_address(key)}};
}

Result<void> print_json(const nlohmann::ordered_json& value) {
  return print_stdout(value.dump(2) + "\n");
}

Result<void> write_new_identity_file(const std::string& path, std::string_view text) {
  // age-keygen refuses to overwrite too: the old file may be someone's only key.
  // (A status we cannot read is left for AtomicFile::create to report.)
  std::error_code ec;
  const auto type = std::filesystem::symlink_status(path, ec).type();
  if (type != std::filesystem::file_type::not_found && type != std::filesystem::file_type::none)
    return fail("keys.exists", path + " already exists; refusing to overwrite it");
  auto file = AtomicFile::create(path, 0600);
  if (!file) return std::unexpected(file.error());
  if (auto ok = file->write(as_bytes(text)); !ok) return fail(ok.error(), "writing " + path);
  // Replace::No closes the race with a file created after the check above.
  if (auto ok = file->commit(AtomicFile::Replace::No); !ok) {
    if (ok.error().code == "io.exists")
      return fail("keys.exists", path + " already exists; refusing to overwrite it");
    return ok;
  }
  return {};
}

Result<void> run_new(const NewArgs& args) {
  const keys::PartyKey key = keys::PartyKey::generate();
  std::string text = key.identity_file_text(std::chrono::system_clock::now());
  Result<void> result;
  if (is_std_stream(args.output)) {
    // Like age-keygen: without -o the identity file itself is the output.
    if (args.json) {
      nlohmann::ordered_json out = public_keys_json(key);
      out["identity_file"] = text;
      std::string rendered = out.dump(2) + "\n";
      result = print_stdout(rendered);
      crypto::cleanse(rendered.data(), rendered.size());
      auto& embedded = out["identity_file"].get_ref<std::string&>();
      crypto::cleanse(embedded.data(), embedded.size());
    } else {
      result = print_stdout(text);
    }
  } else {
    result = write_new_identity_file(args.output, text);
    if (result && args.json) {
      result = print_json(public_keys_json(key));
    } else if (result) {
      const std::string recipient = key.recipient().to_string();
      result = print_stdout(recipient + "\n");
      (void)write_all(2, as_bytes("Public key: " + recipient + "\n"));
    }
  }
  crypto::cleanse(text.data(), text.size());
  return result;
}

Result<void> run_show(const ShowArgs& args) {
  auto key = keys::PartyKey::load(args.path);
  if (!key) return std::unexpected(key.error());
  if (args.json) return print_json(public_keys_json(*key));
  return print_stdout("recipient: " + key->recipient().to_string() + "\nsigning public key: " +
                      hex_encode(key->signing_public_key()) + "\nEVM address: " + evm_address(*key) + "\n");
}

}  // namespace

void add_keys_commands(CLI::App& app, Action& action) {
  CLI::App* keys = app.add_subcommand("keys", "Create and inspect party keys");
  keys->require_subcommand(1);
  keys->footer("Run 'ward keys COMMAND --help' for a command's options.");

  auto new_args = std::make_shared<NewArgs>();
  CLI::App* create = keys->add_subcommand("new", "Generate a party key (an age identity file)");
  create->footer(
      "A party key is an age X25519 identity; Ward derives the party's Ed25519 signing key from it.\n"
      "With -o, the identity file is written (mode 0600, never overwriting a file) and the recipient\n"
      "(age1...) is printed. Without -o, the identity file itself is printed, like age-keygen.\n"
      "The file is a plain age identity file: age -d -i FILE accepts it.");
  create->add_option("-o,--output", new_args->output, "Write the identity file to FILE")->option_text("FILE");
  create->add_flag("--json", new_args->json,
                   "Print JSON: recipient, signing_public_key, evm_address (and identity_file without -o)");
  create->callback([&action, new_args] { action = [new_args] { return run_new(*new_args); }; });

  auto show_args = std::make_shared<ShowArgs>();
  CLI::App* show = keys->add_subcommand("show", "Print the public keys of a party key file");
  show->footer(
      "Prints the age recipient (age1...), the hex Ed25519 signing public key, and the Ethereum\n"
      "address of the party's secp256k1 key (derived from the same file), which sends its\n"
      "transactions to an EVM ledger and pays their gas.");
  show->add_option("FILE", show_args->path, "An identity file holding exactly one AGE-SECRET-KEY-1 key")
      ->option_text(" ")
      ->required();
  show->add_flag("--json", show_args->json, "Print JSON: recipient, signing_public_key, evm_address");
  show->callback([&action, show_args] { action = [show_args] { return run_show(*show_args); }; });
}

}  // namespace ward::cli
