// ward encrypt | decrypt: age v1 files, with age's flags and behaviour.
#include <memory>
#include <string>
#include <vector>

#include "age/armor.h"
#include "age/stream.h"
#include "cli/cli.h"

namespace ward::cli {
namespace {

// Recipient and identity files are small; anything larger is a mistake.
constexpr std::size_t kMaxKeyFileSize = std::size_t{16} << 20;

struct EncryptArgs {
  std::vector<std::string> recipients;
  std::vector<std::string> recipient_files;
  std::vector<std::string> identity_files;
  bool passphrase = false;
  bool armor = false;
  std::string output;
  std::string input;
};

struct DecryptArgs {
  std::vector<std::string> identity_files;
  std::string output;
  std::string input;
};

// Reads a key file into wiped memory (identity files hold secrets).
Result<crypto::SecretBytes> read_key_file(const std::string& path) {
  auto data = read_file(path, kMaxKeyFileSize);
  if (!data) return std::unexpected(data.error());
  crypto::SecretBytes text = crypto::to_secret(*data);
  crypto::cleanse(data->data(), data->size());
  return text;
}

Result<std::vector<age::X25519Identity>> load_identities(const std::vector<std::string>& paths) {
  std::vector<age::X25519Identity> identities;
  for (const std::string& path : paths) {
    auto text = read_key_file(path);
    if (!text) return std::unexpected(text.error());
    const std::string_view chars = as_chars(crypto::view(*text));
    if (chars.starts_with("age-encryption.org/") || chars.starts_with(age::kArmorBegin))
      return fail("cli.identity", "identity file " + path +
                                      " is itself encrypted; Ward does not read encrypted identity files");
    auto parsed = age::parse_identity_file(chars);
    if (!parsed) return fail(parsed.error(), "identity file " + path);
    for (auto& identity : *parsed) identities.push_back(std::move(identity));
  }
  return identities;
}

Result<crypto::SecretBytes> ask_new_passphrase() {
  auto first = read_passphrase("Enter passphrase: ");
  if (!first) return first;
  if (first->empty()) return fail("cli.passphrase", "empty passphrase; refusing to encrypt without one");
  auto second = read_passphrase("Confirm passphrase: ");
  if (!second) return second;
  if (!crypto::ct_equal(crypto::view(*first), crypto::view(*second)))
    return fail("cli.passphrase", "the passphrases did not match");
  return first;
}

Result<void> run_encrypt(const EncryptArgs& args) {
  const bool has_keys =
      !args.recipients.empty() || !args.recipient_files.empty() || !args.identity_files.empty();
  if (args.passphrase && has_keys)
    return fail(std::string(kUsage), "-p/--passphrase cannot be combined with -r, -R or -i");
  if (!args.passphrase && !has_keys)
    return fail(std::string(kUsage), "no recipients: use -r RECIPIENT, -R FILE, -i FILE or -p");

  std::vector<std::unique_ptr<age::Recipient>> recipients;
  for (const std::string& text : args.recipients) {
    auto r = age::X25519Recipient::parse(text);
    if (!r) return std::unexpected(r.error());
    recipients.push_back(std::make_unique<age::X25519Recipient>(*r));
  }
  for (const std::string& path : args.recipient_files) {
    auto text = read_file(path, kMaxKeyFileSize);
    if (!text) return std::unexpected(text.error());
    auto parsed = age::parse_recipients_file(as_chars(*text));
    if (!parsed) return fail(parsed.error(), "recipients file " + path);
    for (const auto& r : *parsed) recipients.push_back(std::make_unique<age::X25519Recipient>(r));
  }
  auto identities = load_identities(args.identity_files);
  if (!identities) return std::unexpected(identities.error());
  for (const auto& identity : *identities)
    recipients.push_back(std::make_unique<age::X25519Recipient>(identity.recipient()));

  auto input = Input::open(args.input);
  if (!input) return std::unexpected(input.error());
  auto output = Output::open(args.output, 0644);
  if (!output) return std::unexpected(output.error());
  if (!args.armor && output->is_terminal())
    return fail("cli.terminal",
                "refusing to write binary ciphertext to a terminal; use -a/--armor or -o FILE");

  if (args.passphrase) {
    auto passphrase = ask_new_passphrase();
    if (!passphrase) return std::unexpected(passphrase.error());
    recipients.push_back(std::make_unique<age::ScryptRecipient>(std::move(*passphrase)));
  }

  std::vector<const age::Recipient*> pointers;
  for (const auto& r : recipients) pointers.push_back(r.get());
  age::EncryptOptions options;
  options.armor = args.armor;
  if (auto ok = age::encrypt_file(input->fd(), output->fd(), pointers, options); !ok)
    return std::unexpected(ok.error());
  return output->commit();
}

Result<void> run_decrypt(const DecryptArgs& args) {
  auto identities = load_identities(args.identity_files);
  if (!identities) return std::unexpected(identities.error());
  std::vector<const age::Identity*> pointers;
  for (const auto& identity : *identities) pointers.push_back(&identity);

  auto input = Input::open(args.input);
  if (!input) return std::unexpected(input.error());
  auto output = Output::open(args.output, 0644);
  if (!output) return std::unexpected(output.error());

  bool asked = false;
  age::DecryptOptions options;
  options.ask_passphrase = [&asked] {
    asked = true;
    return read_passphrase("Enter passphrase: ");
  };
  // Chunks may land out of order only where a failure discards the output;
  // elsewhere plaintext is released in order, as each chunk authenticates.
  options.discard_output_on_error = output->is_atomic_file();
  auto ok = age::decrypt_file(input->fd(), output->fd(), pointers, options);
  if (!ok) {
    if (ok.error().code == "age.no_match" && pointers.empty() && !asked)
      return fail("age.no_match",
                  "the file is encrypted to public keys; give the identity file with -i FILE");
    return std::unexpected(ok.error());
  }
  return output->commit();
}

}  // namespace

void add_crypt_commands(CLI::App& app, Action& action) {
  auto enc = std::make_shared<EncryptArgs>();
  CLI::App* encrypt = app.add_subcommand("encrypt", "Encrypt a file to age recipients or a passphrase");
  encrypt->footer(
      "INPUT defaults to standard input and OUTPUT to standard output (\"-\" names either).\n"
      "Binary ciphertext is never written to a terminal: use -a or -o.\n"
      "The result is a standard age v1 file, so any age tool can decrypt it.");
  repeatable(encrypt->add_option("-r,--recipient", enc->recipients,
                                 "Encrypt to RECIPIENT (age1...). Can be repeated"))
      ->option_text("RECIPIENT");
  repeatable(encrypt->add_option("-R,--recipients-file", enc->recipient_files,
                                 "Encrypt to the recipients listed in PATH, one per line. Can be repeated"))
      ->option_text("PATH");
  repeatable(encrypt->add_option("-i,--identity", enc->identity_files,
                                 "Encrypt to the public keys of the identity file at PATH. Can be repeated"))
      ->option_text("PATH");
  encrypt->add_flag("-p,--passphrase", enc->passphrase,
                    "Encrypt with a passphrase, asked twice on the terminal (not with -r, -R or -i)");
  encrypt->add_flag("-a,--armor", enc->armor, "Write ASCII-armored (PEM) output");
  encrypt->add_option("-o,--output", enc->output, "Write to OUTPUT atomically (replacing an existing file)")
      ->option_text("OUTPUT");
  encrypt->add_option("INPUT", enc->input, "The file to encrypt")->option_text(" ");
  encrypt->callback([&action, enc] { action = [enc] { return run_encrypt(*enc); }; });

  auto dec = std::make_shared<DecryptArgs>();
  CLI::App* decrypt = app.add_subcommand("decrypt", "Decrypt an age file with identities or a passphrase");
  decrypt->footer(
      "INPUT (binary or armored) defaults to standard input and OUTPUT to standard output\n"
      "(\"-\" names either). A passphrase is asked for on the terminal when the file was\n"
      "encrypted with one. With -o, nothing is left at OUTPUT unless the whole file decrypts.");
  repeatable(decrypt->add_option("-i,--identity", dec->identity_files,
                                 "Use the identity file at PATH. Can be repeated"))
      ->option_text("PATH");
  decrypt->add_option("-o,--output", dec->output, "Write to OUTPUT atomically (replacing an existing file)")
      ->option_text("OUTPUT");
  decrypt->add_option("INPUT", dec->input, "The file to decrypt")->option_text(" ");
  decrypt->callback([&action, dec] { action = [dec] { return run_decrypt(*dec); }; });
}

}  // namespace ward::cli
