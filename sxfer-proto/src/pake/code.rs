//! Short codes (PROTOCOL.md §4.6.3): `NAMEPLATE-word-word-word`.
//!
//! ```text
//! code      = nameplate 1*8("-" word)
//! nameplate = decimal number 1..=999 999 999, no leading zero
//!             (direct: random 1..=999; relay: assigned by the server)
//! word      = one of the 256 words of `words.rs`, lowercase ASCII
//! ```
//! Each word carries [`BITS_PER_WORD`] bits of secret: the default three
//! words are 24 bits. Which part of the code is the PAKE password is the
//! caller's explicit choice ([`PasswordScope`]): the whole code for a direct
//! connection, the words alone for a relay, whose nameplate is public.

use rand_core::CryptoRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::words::WORDS;
use super::PakePassword;
use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// Secret bits per word: the list has 256 words, each chosen uniformly.
pub const BITS_PER_WORD: u32 = 8;
/// Fewest and most words a code may have (`--code-words`).
pub const MIN_WORDS: usize = 1;
pub const MAX_WORDS: usize = 8;
/// The default: 24 bits, a 2^-24 chance for the one guess a code allows.
pub const DEFAULT_WORDS: usize = 3;
/// The range of a random nameplate for a direct connection.
pub const MAX_DIRECT_NAMEPLATE: u32 = 999;
/// The largest nameplate a code may carry (nine decimal digits).
pub const MAX_NAMEPLATE: u32 = 999_999_999;

/// How many words a code has: 1..=8, checked once (`--code-words N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeWords(usize);

impl CodeWords {
    pub fn new(count: usize) -> Result<Self> {
        if !(MIN_WORDS..=MAX_WORDS).contains(&count) {
            return Err(Error::InvalidCode("a code has 1 to 8 words (--code-words)"));
        }
        Ok(CodeWords(count))
    }

    pub fn count(self) -> usize {
        self.0
    }

    /// The secret a code of this many words holds: 8 bits per word.
    pub fn entropy_bits(self) -> u32 {
        self.0 as u32 * BITS_PER_WORD
    }
}

impl Default for CodeWords {
    fn default() -> Self {
        CodeWords(DEFAULT_WORDS)
    }
}

/// The number in front of a code. Public for a relay (the server assigned
/// it and pairs by it); part of the password for a direct connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nameplate(u32);

impl Nameplate {
    /// 1..=999 999 999.
    pub fn new(number: u32) -> Result<Self> {
        if !(1..=MAX_NAMEPLATE).contains(&number) {
            return Err(Error::InvalidCode("a nameplate is a number from 1 to 999999999"));
        }
        Ok(Nameplate(number))
    }

    /// A uniformly random nameplate 1..=999, for a direct connection.
    pub fn random_direct(rng: &mut impl CryptoRngCore) -> Self {
        loop {
            // 1024 = the next power of two: reject instead of biasing.
            let number = rng.next_u32() % 1024;
            if (1..=MAX_DIRECT_NAMEPLATE).contains(&number) {
                return Nameplate(number);
            }
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for Nameplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which part of a code the PAKE uses as its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordScope {
    /// Direct connections: `NAMEPLATE-w-w-w`, the nameplate adds its
    /// (uncounted) ~10 bits.
    WholeCode,
    /// Relayed connections: `w-w-w`; the nameplate is public (the relay
    /// pairs by it), so it is not part of the secret.
    WordsOnly,
}

/// A short code. No Debug output, no Display: [`Code::expose`] is the one
/// way to its text. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Code {
    nameplate: u32,
    /// Indices into `WORDS`.
    words: Vec<u8>,
}

impl Code {
    /// A fresh code: `nameplate` from the relay, or `None` for a random
    /// 1..=999 (direct); `words` uniformly random words.
    pub fn generate(nameplate: Option<Nameplate>, words: CodeWords, rng: &mut impl CryptoRngCore) -> Code {
        let nameplate = nameplate.unwrap_or_else(|| Nameplate::random_direct(rng));
        let mut indices = vec![0u8; words.count()];
        rng.fill_bytes(&mut indices);
        Code { nameplate: nameplate.get(), words: indices }
    }

    /// What a user typed: surrounding white space and letter case do not
    /// matter. Errors never repeat the code.
    pub fn parse(typed: &str) -> Result<Code> {
        let normal = Zeroizing::new(typed.trim().to_ascii_lowercase());
        let mut parts = normal.split('-');
        let number = parts.next().unwrap_or_default();
        let digits_only = !number.is_empty() && number.len() <= 9 && number.bytes().all(|b| b.is_ascii_digit());
        if !digits_only || number.starts_with('0') {
            return Err(Error::InvalidCode("a code starts with its number, as in 7-amber-falcon-harbor"));
        }
        let nameplate = Nameplate::new(number.parse().map_err(|_| Error::InvalidCode("nameplate"))?)?;
        let mut words = Vec::new();
        for word in parts {
            if word.is_empty() {
                return Err(Error::InvalidCode("a code is words joined by single '-', as in 7-amber-falcon-harbor"));
            }
            let index = WORDS
                .binary_search(&word)
                .map_err(|_| Error::InvalidCode("a word of the code is not in the word list"))?;
            if words.len() == MAX_WORDS {
                return Err(Error::InvalidCode("a code has at most 8 words"));
            }
            words.push(index as u8);
        }
        if words.is_empty() {
            return Err(Error::InvalidCode("a code has words after its number, as in 7-amber-falcon-harbor"));
        }
        Ok(Code { nameplate: nameplate.get(), words })
    }

    pub fn nameplate(&self) -> Nameplate {
        Nameplate(self.nameplate)
    }

    pub fn word_count(&self) -> CodeWords {
        CodeWords(self.words.len())
    }

    /// The code as it is shown and typed: `7-amber-falcon-harbor`.
    pub fn expose(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(self.nameplate.to_string());
        text.push('-');
        text.push_str(&self.words_text());
        text
    }

    /// The PAKE password: the UTF-8 bytes of [`Code::expose`]
    /// (`WholeCode`) or of its words alone, `amber-falcon-harbor`
    /// (`WordsOnly`).
    pub fn password(&self, scope: PasswordScope) -> PakePassword {
        let text = match scope {
            PasswordScope::WholeCode => self.expose(),
            PasswordScope::WordsOnly => self.words_text(),
        };
        PakePassword::from_secret(SecretBytes::new(text.as_bytes().to_vec()))
    }

    fn words_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(8 * self.words.len()));
        for (i, &index) in self.words.iter().enumerate() {
            if i > 0 {
                text.push('-');
            }
            text.push_str(WORDS[index as usize]);
        }
        text
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct CountingRng(u64);

    impl rand_core::RngCore for CountingRng {
        fn next_u32(&mut self) -> u32 {
            self.0 += 1;
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_u32())
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for byte in dest {
                *byte = self.next_u32() as u8;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core::CryptoRng for CountingRng {}

    #[test]
    fn the_word_list_is_sorted_distinct_short_lowercase_and_prefix_unique() {
        assert!(WORDS.windows(2).all(|pair| pair[0] < pair[1]), "sorted and distinct");
        for word in WORDS {
            assert!((4..=7).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_lowercase()), "{word}");
        }
        let prefixes: std::collections::HashSet<&str> = WORDS.iter().map(|w| &w[..3]).collect();
        assert_eq!(prefixes.len(), 256);
    }

    #[test]
    fn generated_codes_round_trip_through_what_a_user_types() {
        let mut rng = CountingRng(0);
        for count in MIN_WORDS..=MAX_WORDS {
            let code = Code::generate(None, CodeWords::new(count).unwrap(), &mut rng);
            assert!((1..=MAX_DIRECT_NAMEPLATE).contains(&code.nameplate().get()));
            let text = code.expose();
            assert_eq!(text.split('-').count(), count + 1);
            let shouted = format!("  {}\n", text.to_ascii_uppercase());
            let parsed = Code::parse(&shouted).unwrap();
            assert_eq!(*parsed.expose(), *text);
            assert_eq!(parsed.word_count().count(), count);
        }
        let relayed = Code::generate(Some(Nameplate::new(4242).unwrap()), CodeWords::default(), &mut rng);
        assert!(relayed.expose().starts_with("4242-"));
    }

    #[test]
    fn the_password_is_the_whole_code_or_the_words_alone() {
        let code = Code::parse("42-amber-falcon-harbor").unwrap();
        assert_eq!(code.nameplate().get(), 42);
        assert_eq!(code.password(PasswordScope::WholeCode).expose(), b"42-amber-falcon-harbor");
        assert_eq!(code.password(PasswordScope::WordsOnly).expose(), b"amber-falcon-harbor");
    }

    #[test]
    fn malformed_codes_are_refused_without_echoing_them() {
        let nine = "1-acorn-acorn-acorn-acorn-acorn-acorn-acorn-acorn-acorn";
        for bad in [
            "",
            "7",
            "7-",
            "-acorn",
            "07-acorn",
            "x-acorn",
            "7-acorn-",
            "7--acorn",
            "7-acorn-walrus",
            "0-acorn",
            "1234567890-acorn",
            "7 acorn",
            "7-acörn",
            nine,
        ] {
            let error = Code::parse(bad).unwrap_err();
            assert!(matches!(error, Error::InvalidCode(_)), "{bad:?}: {error}");
            if bad.len() > 3 {
                assert!(!error.to_string().contains(bad), "{bad:?}: {error}");
            }
        }
    }

    #[test]
    fn word_counts_and_entropy() {
        assert_eq!(CodeWords::default().entropy_bits(), 24);
        assert_eq!(CodeWords::new(8).unwrap().entropy_bits(), 64);
        assert!(CodeWords::new(0).is_err() && CodeWords::new(9).is_err());
        assert!(Nameplate::new(0).is_err() && Nameplate::new(MAX_NAMEPLATE + 1).is_err());
    }

    #[test]
    fn a_code_does_not_print() {
        let code = Code::parse("7-acorn-falcon-river").unwrap();
        assert_eq!(format!("{code:?}"), "Code(<redacted>)");
    }
}
