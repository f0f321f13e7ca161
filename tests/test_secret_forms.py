"""Secrets written in the forms detect-secrets misses: values a person chose under a secret's
name, joined names, command lines, setters and logins, cookies and query strings, token formats
it does not know, sentences and comments, Kubernetes Secret data, and long lines; and what only
looks like a secret (tokenizer tokens, identifiers, ARNs) left alone.

The fake values are made at run time from a seeded generator, so this file itself does not read
as leaking them; none is or was ever valid.
"""

from __future__ import annotations

import base64
import random
import string
import time

import pytest

from bot.core.secrets.redaction import find_secrets, placeholder, redact_text, reported

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def fake(n: int, alphabet: str = ALNUM, *, seed: str = "") -> str:
    """A random-looking fake value, the same for the same seed."""
    rng = random.Random(f"{seed}/{n}/{alphabet}")
    return "".join(rng.choice(alphabet) for _ in range(n))


def only(text: str, path: str = "") -> tuple[str, str, bool]:
    """The one secret in `text`: its kind, its value, and whether it is reported."""
    (found,) = find_secrets(text, path)
    return found.kind, text[found.start : found.end], found.sure and reported(found.kind)


# --- values under a secret's name ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line", "value", "sure"),
    [
        # A password a person chose: redacted whole, reported when it looks like one.
        ("deploy/.env", 'SMTP_PASSWORD="PurpleElephantDance"', "PurpleElephantDance", False),
        ("app/db.py", 'password = "OrangeMarmalade"', "OrangeMarmalade", False),
        ("app/db.py", 'cfg = {"pass": "QwTrLpMnBvZxKj"}', "QwTrLpMnBvZxKj", True),
        (".env", "ROOT_PASSWORD=Q7W_E4R_T9Y_U2", "Q7W_E4R_T9Y_U2", True),
        ("config.yml", "password: Ocean.Waves.Crash1999", "Ocean.Waves.Crash1999", True),
        (".env", "DB_PASSWORD=Yourcat4!z", "Yourcat4!z", True),
        (".env", "DB_PASSWORD=b7H...m3Qx", "b7H...m3Qx", True),
        (".env", "DB_PASSWORD=Pq7${x}2mZr", "Pq7${x}2mZr", True),
        (".env", "DB_PASSWORD=<Pq7x2mZr9>", "<Pq7x2mZr9>", True),
        # Characters the old value class stopped at, in a file where the value is the line.
        (".env", "CACHE_PASSWORD=xyz,Pq7x2mZr9", "xyz,Pq7x2mZr9", True),
        (".env", "CACHE_PASSWORD=x;Pq7x2mZr9kk", "x;Pq7x2mZr9kk", True),
        (".env", "CACHE_PASSWORD=xy'Pq7x2mZr9k", "xy'Pq7x2mZr9k", True),
        ("app.ini", "password = Tr0ub4dor&3 extra", "Tr0ub4dor&3 extra", True),
        (".env", 'VAULT_PASSWORD="battery staple Pq7x2mZr9!"', "battery staple Pq7x2mZr9!", True),
        ("values.yaml", "  password: Pq7x2 mZr9kk", "Pq7x2 mZr9kk", True),
        (".env", "DB_PASSWORD=k4!Z", "k4!Z", True),
        (".env", "KEYSTORE_PIN_PASSWORD=4719305826", "4719305826", True),
        ("conf.toml", 'password = """Pq7x2mZr9kkT"""', "Pq7x2mZr9kkT", True),
        (".env", "REDIS_PASSWORD=abc#def1", "abc#def1", True),
        (".env", "DB_PASSWORD=prefix${SUFFIX}tail", "prefix${SUFFIX}tail", True),
    ],
)
def test_a_value_under_a_secret_name_is_redacted_whole_unless_it_is_a_placeholder(
    path: str, line: str, value: str, sure: bool
) -> None:
    kind, found, reported_ = only(line, path)
    assert (kind, found, reported_) == ("password", value, sure)
    assert value not in redact_text(line, path)


def test_a_long_unquoted_value_is_redacted_to_its_end() -> None:
    token = fake(1300, seed="long")
    for path, line in ((".env", f"API_TOKEN={token}"), ("k8s/app.yaml", f"  token: {token}")):
        assert only(line, path) == ("token", token, True)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (".env", "DB_PASSWORD=${DB_PASSWORD}"),
        (".env", "DB_PASSWORD=${DB_PASSWORD:-}"),
        ("ci.yml", "      password: ${{ secrets.REGISTRY_PASSWORD }}"),
        ("values.yaml", "password: {{ .Values.db.password }}"),
        (".env.example", "API_KEY=your_api_key_here"),
        (".env.example", "DB_PASSWORD=<your password>"),
        (".env.example", "SECRET_KEY=changeme"),
        (".env.example", "STRIPE_KEY=sk-..."),
        (".env.example", "DB_PASSWORD=********"),
        ("app.properties", "db.password=${DB_PASSWORD}"),
        ("values.yaml", "password: !vault |"),
        ("values.yaml", "password: *default_password"),
        ("values.yaml", "password: # set by the operator"),
        ("a.py", 'password = os.environ["DB_PASSWORD"]'),
        ("a.py", 'dsn = f"host=db password={password}"'),
        ("a.py", 'PASSWORD_FIELDS = {"password": "Password", "token": "Token"}'),
        ("a.py", '"password": "a password",'),
        ("a.py", "SECRET_KEY = 'dev'"),
        (".env", "PASSWORD_FILE=/run/secrets/db"),
        (".env", "TOKEN_EXPIRY_SECONDS=86400"),
        ("tox.ini", "passenv = LANG"),
    ],
)
def test_placeholders_templates_and_references_are_left_alone(path: str, line: str) -> None:
    assert find_secrets(line, path) == ()


@pytest.mark.parametrize(
    "value",
    ["${X}", "{{ secrets.TOKEN }}", "<your token>", "changeme", "your_api_key", "sk-...", "****"],
)
def test_a_placeholder_is_one_exactly(value: str) -> None:
    assert only(f"DB_PASSWORD=Zq{value}9x!", ".env")[0] == "password"


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line", "kind"),
    [
        ("scripts/restore.sh", "PGPASSWORD={v} psql -h db -U app", "password"),
        ("deploy/.env", "DBPASS={v}", "password"),
        ("deploy/.env", "rootpw={v}", "password"),
        ("deploy/.env", "db_pw={v}", "password"),
        ("deploy/.env", "SMTP_PASSWD={v}", "password"),
        ("deploy/.env", "MYAPIKEY={v}", "api-key"),
        ("deploy/.env", "GH_TOKEN_RO={v}", "token"),
        ("run.sh", "MYSQL_PWD={v} mysql -u root", "password"),
        ("app/db.py", 'dsn = "scott/{v}@orcl"', "password"),
        ("app/db.py", 'connection_string = "app:{v}@db.internal:5432/app"', "password"),
    ],
)
def test_secret_words_inside_joined_names_are_found(path: str, line: str, kind: str) -> None:
    value = fake(14, seed=line)
    assert only(line.format(v=value), path)[:2] == (kind, value)


# --- command lines, calls, headers, query strings -----------------------------------------


@pytest.mark.parametrize(
    ("path", "line", "kind"),
    [
        ("scripts/db.sh", "mysql -u root -p{v} app < dump.sql", "password"),
        ("scripts/db.sh", "mysqldump -uroot -p'{v}' app", "password"),
        ("scripts/db.sh", 'sshpass -p "{v}" ssh root@host', "password"),
        ("scripts/db.sh", "sshpass -p {v} scp a host:", "password"),
        (".github/workflows/ci.yml", "    run: docker login -u bot -p {v} ghcr.io", "password"),
        ("scripts/db.sh", "mysql --user=root --password={v} app", "password"),
        ("scripts/sync.sh", "tool --api-key {v} sync", "api-key"),
        ("scripts/cache.sh", "redis-cli -h cache -a {v} ping", "password"),
        ("scripts/ora.sh", "sqlplus system/{v}@orcl @run.sql", "password"),
        ("src/Db.java", 'ds.setPassword("{v}");', "password"),
        ("src/App.kt", 'builder.withClientSecret("{v}")', "password"),
        ("src/ftp.py", 'ftp.login("admin", "{v}")', "password"),
        ("src/api.py", 'requests.get(url, auth=("svc", "{v}"))', "password"),
        ("src/Net.cs", 'new NetworkCredential("svc", "{v}")', "password"),
        (
            "src/Db.java",
            'open("jdbc:oracle:thin:scott/{v}@db.example.com:1521:ORCL")',
            "url-password",
        ),
        ("scripts/get.sh", 'curl -H "Cookie: session={v}" https://x.example', "cookie"),
        ("src/api.py", 'headers = {{"Cookie": "JSESSIONID={v}; lang=en"}}', "cookie"),
        ("web/me.js", "fetch(`https://graph.example.com/me?access_token={v}`)", "token"),
        ("web/list.ts", "const u = `${{base}}/v1/x?page=${{n}}&api_key={v}`;", "api-key"),
        ("web/auth.js", "location.assign(`/cb#access_token={v}&state=${{s}}`)", "token"),
        ("tools/dump.py", 'subprocess.run(["mysqldump", "--password", "{v}", "app"])', "password"),
        (
            "scripts/jks.sh",
            "keytool -importkeystore -srcstorepass {v} -deststorepass x",
            "password",
        ),
        ("scripts/tls.sh", "openssl rsa -in k.pem -passin pass:{v} -out k2.pem", "password"),
        ("scripts/push.sh", 'echo "{v}" | docker login -u bot --password-stdin', "password"),
        ("src/Mail.java", 'new PasswordAuthentication("u", "{v}".toCharArray())', "password"),
        ("deploy.ps1", '$pw = ConvertTo-SecureString "{v}" -AsPlainText -Force', "password"),
        ("web.config", '<add key="PaymentApiKey" value="{v}" />', "api-key"),
    ],
)
def test_passwords_on_command_lines_in_calls_cookies_and_query_strings_are_found(
    path: str, line: str, kind: str
) -> None:
    value = fake(18, seed=line)
    assert only(line.format(v=value), path)[:2] == (kind, value)


def test_random_values_under_auth_and_key_names_are_found_unquoted_too() -> None:
    auth = base64.b64encode(("ci:" + fake(16, seed="npm")).encode()).decode()
    assert only(f"//registry.example.com/:_auth={auth}", ".npmrc")[:2] == ("secret", auth)


def test_a_twilio_auth_token_near_its_sid_is_found_on_another_line() -> None:
    sid, token = "AC" + fake(32, HEX, seed="sid2"), fake(32, HEX, seed="token2")
    text = f'sid = "{sid}"\nclient = Client(sid, "{token}")'
    assert token not in redact_text(text, "notify.py")


def test_an_azure_sas_signature_is_found_url_encoded() -> None:
    sig = fake(43, seed="sas").replace("a", "%2B") + "%3D"
    line = f'URL = "https://acct.blob.core.windows.net/c/f?sv=2021-08-06&sr=b&sp=r&sig={sig}"'
    assert only(line, "src/blob.py") == ("signed-url", sig, True)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("scripts/build.sh", "mkdir -p build && cp -pr src dist"),
        ("scripts/ssh.sh", "ssh -p 2222 user@host"),
        ("cli.py", '@click.option("--port", "-p", default=5000, help="The port to bind to.")'),
        ("scripts/login.sh", 'echo "$PASSWORD" | docker login -u bot --password-stdin'),
        ("README.md", "Use `--token $GITHUB_TOKEN` or set GITHUB_TOKEN."),
        ("README.md", "Pass --password to set it interactively."),
        ("app.py", "password = getpass.getpass('Password: ')"),
        ("app.py", 'user.set_password(form["password"])'),
        ("app.py", 'url = "https://x.example/search?key=value&q=term"'),
        ("app.py", 'assert resp.cookies["session"] == "abc"'),
    ],
)
def test_ordinary_flags_calls_and_urls_are_left_alone(path: str, line: str) -> None:
    assert find_secrets(line, path) == ()


# --- token formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "body", "suffix", "kind"),
    [
        ("ATATT3xFfGF0", fake(150, ALNUM + "_-", seed="atl"), "=A1B2C3D4", "atlassian-token"),
        ("NRAK-", fake(27, string.ascii_uppercase + string.digits, seed="nr"), "", "newrelic-key"),
        ("fm2_", fake(90, ALNUM + "+/", seed="fly"), "==", "flyio-token"),
        ("glsa_", fake(32, ALNUM, seed="gr"), "_" + fake(8, HEX, seed="gr2"), "grafana-token"),
        ("pscale_pw_", fake(43, ALNUM, seed="ps"), "", "planetscale-token"),
        ("pul-", fake(40, HEX, seed="pu"), "", "pulumi-token"),
        ("b3BlbnNzaC1rZXktdjE", fake(60, ALNUM + "+/", seed="ssh"), "", "private-key"),
    ],
)
def test_token_formats_detect_secrets_lacks_are_found_whole(
    prefix: str, body: str, suffix: str, kind: str
) -> None:
    token = prefix + body + suffix
    assert only(f'X = "{token}"', "src/tokens.py") == (kind, token, True)


def test_a_fly_token_is_found_after_its_scheme() -> None:
    token = "fm2_" + fake(60, ALNUM + "+/", seed="fly2")
    line = f'export FLY_API_TOKEN="FlyV1 {token},{token}"'
    assert token not in redact_text(line, "deploy.sh")


@pytest.mark.parametrize(
    ("line", "kind", "secret"),
    [
        (
            'HOOK = "https://discord.com/api/webhooks/112233445566778899/{v}"',
            "discord-webhook",
            fake(68, ALNUM + "_-", seed="dw"),
        ),
        (
            'sentry_sdk.init("https://{v}@o4501.ingest.us.sentry.io/42")',
            "sentry-dsn",
            fake(32, HEX, seed="sentry"),
        ),
        (
            'client = Client("AC' + fake(32, HEX, seed="sid") + '", "{v}")',
            "twilio-key",
            fake(32, HEX, seed="twilio"),
        ),
    ],
)
def test_webhook_urls_dsn_keys_and_a_twilio_token_beside_its_sid_are_found(
    line: str, kind: str, secret: str
) -> None:
    text = line.format(v=secret)
    assert secret not in redact_text(text, "src/hooks.py")
    assert kind in {s.kind for s in find_secrets(text, "src/hooks.py")}


# --- sentences and comments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("Please use password {v} for staging", "password"),
        ("the db password is: {v}", "password"),
        ("Token: {v}", "token"),
        ("my api-key = {v}", "api-key"),
        ("Passphrase `{v}`", "password"),
        ("ssh root@10.0.0.1 pw: {v}!", "password"),
        ("The secret {v} is for prod", "secret"),
        ("use {v}9! as the password", "password"),
    ],
)
def test_a_secret_written_in_a_sentence_is_redacted(sentence: str, kind: str) -> None:
    value = fake(16, seed=sentence)
    text = sentence.format(v=value)
    assert value not in redact_text(text)
    assert kind in {s.kind for s in find_secrets(text)}


def test_hex_keys_and_user_password_pairs_in_sentences_are_redacted() -> None:
    key, pw1, pw2 = fake(32, HEX, seed="hex"), fake(12, seed="p1"), fake(12, seed="p2")
    assert redact_text(f"the api key is {key}") == "the api key is <redacted:api-key>"
    assert redact_text(f"creds: admin / {pw1}") == "creds: admin / <redacted:password>"
    assert redact_text(f"login with `root:{pw2}`") == "login with `root:<redacted:password>`"


def test_a_pin_stated_in_a_sentence_is_redacted() -> None:
    assert redact_text("The vault PIN is 83920174") == "The vault PIN is <redacted:password>"


def test_a_secret_word_lowers_the_randomness_a_pasted_token_needs() -> None:
    token = fake(14, seed="short")
    assert token not in redact_text(f"here is my token, {token}, use it")
    assert find_secrets(f"here is build {token} from CI") == ()


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("app/db.py", "conn = connect()  # password: {v}"),
        ("web/app.js", "// token is {v}"),
        ("deploy/app.yaml", "replicas: 2  # admin creds: admin / {v}"),
    ],
)
def test_a_secret_in_a_code_comment_is_redacted(path: str, line: str) -> None:
    value = fake(15, seed=line)
    assert value not in redact_text(line.format(v=value), path)


@pytest.mark.parametrize(
    "text",
    [
        "**Committed secret:** this line adds a password. Anyone who can read this repository",
        "The password reset flow sends a token by email.",
        "Set the API key in your environment, then run the tests.",
        "The token is valid for 3600 seconds.",
        "Fixes #123: the secret manager client now retries on 503.",
        "Rotate the key: see docs/keys.md",
        "Passwords like `hunter2` are weak; use a passphrase of four words.",
        "The password must be at least 12 characters long.",
        "See UserProfile2SettingsComponent and test_requests_with_unicode_2 for the token flow.",
        "password is required, token: string, key: value",
        "Read the token from `os.environ` (see `settings.token`) and pass it to login().",
        "installation token refreshed for 12345 (expires_at=2026-01-01T00:00:00Z)",
        "Consider moving the password to an environment variable such as `DB_PASSWORD`.",
        "The `token` parameter is unused; remove it or pass it to `login()`.",
    ],
)
def test_sentences_about_secrets_are_left_alone(text: str) -> None:
    assert find_secrets(text) == ()


# --- Kubernetes Secret data --------------------------------------------------------------------


def test_every_value_of_a_kubernetes_secret_is_redacted_whatever_its_key() -> None:
    conn = base64.b64encode(fake(20, seed="k1").encode()).decode()
    short = base64.b64encode(fake(5, seed="k2").encode()).decode()
    inline = fake(16, seed="k3")
    manifest = "\n".join(
        [
            "apiVersion: v1",
            "kind: Secret",
            "metadata:",
            "  name: app",
            "type: Opaque",
            "data:",
            f"  db-conn: {conn}",
            f"  other: {short}",
            "stringData:",
            "  config.json: |",
            f'    {{"x": "{inline}"}}',
        ]
    )
    out = redact_text(manifest, "deploy/secret.yaml")
    assert all(v not in out for v in (conn, short, inline))
    assert "  name: app" in out
    assert "type: Opaque" in out


def test_a_config_map_keeps_its_data() -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\ndata:\n  LOG_LEVEL: debug\n  MODE: fast-path-2\n"
    assert find_secrets(manifest, "deploy/config.yaml") == ()


# --- what only looks like a secret ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("tok.py", 'AutoTokenizer.from_pretrained(m, unk_token="[UNK]", mask_token="[MASK]")'),
        ("tok.py", 'tok = T(pad_token="<pad>", bos_token="<s>", eos_token="</s>")'),
        ("tok.py", 'im_end_token = "<|im_end|>"'),
        ("tok.py", 'stop_token = "end_of_turn"'),
        ("gen.json", '{"stop_token": "end_turn", "next_token": "continue_here"}'),
        ("app.py", 'session_key = "user_session_2024_v2"'),
        ("app.py", 'cache_key = "user_profile_v3"'),
        ("app.py", 'idempotency_key = "order-create-2024"'),
        (
            "app.py",
            'secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-AbCdEf"',
        ),
        ("app.py", 'KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef"'),
        ("app.py", 'secret_id = "projects/acme/secrets/db-password/versions/latest"'),
        ("plugins.py", '    "GitHubTokenDetector": "github-token",'),
        ("style.py", '    Token.Name.Builtin.Clef: "bold #08547A",'),
        ("style.py", '    Token: "#d8dee9",'),
        ("values.yaml", "  existingSecret: my-release-postgresql"),
        ("values.yaml", "secretName: tls-cert"),
        ("app.py", '_DEFAULT_TOKEN = "_sa_default"'),
        ("ci.yml", "      key: 3f786850e387550fdab836ed7e6dc881de23001b"),
        ("ci.yml", "          key: ${{ runner.os }}-pip-${{ hashFiles('**/requirements.txt') }}"),
    ],
)
def test_tokenizer_tokens_identifiers_and_resource_names_are_left_alone(
    path: str, line: str
) -> None:
    assert find_secrets(line, path) == ()


def test_a_word_like_password_is_redacted_but_not_reported() -> None:
    (found,) = find_secrets('DB_PASSWORD="MonkeyBananaSplit"', ".env")
    assert (found.kind, found.sure) == ("password", False)
    assert placeholder("password") in redact_text('DB_PASSWORD="MonkeyBananaSplit"', ".env")


# --- long lines -------------------------------------------------------------------------------


def _jwt() -> str:
    def part(data: str) -> str:
        return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")

    claims = '{"sub": "svc-billing", "perm": "' + fake(560, string.ascii_letters, seed="c") + '"}'
    header = part('{"alg": "HS256", "typ": "JWT"}')
    return f"{header}.{part(claims)}.{fake(43, ALNUM + '-_', seed='sig')}"


@pytest.mark.parametrize("offset", [0, 1200, 1400, 1490, 1990, 2600, 3500, 6000])
def test_a_long_jwt_anywhere_in_a_minified_line_is_found_whole(offset: int) -> None:
    jwt = _jwt()
    assert len(jwt) > 800
    line = "a" * offset + f'var t="{jwt}";' + "b" * 4000
    (found,) = [s for s in find_secrets(line, "dist/app.min.js") if s.kind == "jwt"]
    assert line[found.start : found.end] == jwt


@pytest.mark.parametrize("offset", [0, 1300, 3900])
def test_a_long_value_anywhere_in_a_long_line_is_found_whole(offset: int) -> None:
    token = fake(900, seed="env")
    line = "x=1;" * (offset // 4) + f" API_TOKEN={token}"
    assert token not in redact_text(line, "deploy/.env")
    assert [s.kind for s in find_secrets(line, "deploy/.env")] == ["token"]


@pytest.mark.parametrize(
    "line",
    [
        "password" * 8000,
        "password=" * 7300,
        "password is Xk8q9vLq2! " * 2800,
        "a=" * 32000,
        'password="' + "x" * 65000,
        "# password: " * 5400,
        "Cookie: a=Xk8q9vLq2zzz; " * 2600,
        "?token=Xk8q9vLq2zzz&" * 3000,
        "creds: root:Xk8q9vLq2! " * 2800,
        "".join(random.Random(1).choice(ALNUM + "+/") for _ in range(65000)),
    ],
)
@pytest.mark.parametrize("path", ["", "app.py", ".env"])
def test_a_hostile_64_kb_line_is_scanned_in_well_under_a_few_seconds(line: str, path: str) -> None:
    started = time.perf_counter()
    find_secrets(line, path)
    assert time.perf_counter() - started < 3
