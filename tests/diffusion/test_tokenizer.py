import pytest

from molseiko.diffusion.tokenizer import MASK_ID, PAD_ID, SelfiesTokenizer
from molseiko.domains.molecule import canonical_smiles, to_selfies
from tests.conftest import SMILES


@pytest.fixture
def tokenizer():
    return SelfiesTokenizer.from_selfies(to_selfies(s) for s in SMILES)


def test_special_tokens_first_and_vocab_sorted(tokenizer):
    assert tokenizer.vocab[PAD_ID] == "[PAD]" and tokenizer.vocab[MASK_ID] == "[MASK]"
    assert tokenizer.vocab[2:] == sorted(tokenizer.vocab[2:])


@pytest.mark.parametrize("smiles", SMILES)
def test_smiles_selfies_tokens_round_trip(tokenizer, smiles):
    ids = tokenizer.from_design(smiles)
    assert ids is not None and min(ids) >= 2
    assert tokenizer.decode(ids) == to_selfies(smiles)
    assert tokenizer.to_design(ids) == canonical_smiles(smiles)


def test_unknown_symbol_and_invalid_smiles_give_none(tokenizer):
    assert tokenizer.encode("[C][Xe]") is None  # [Xe] never seen in training
    assert tokenizer.from_design("C1CC") is None


@pytest.mark.parametrize("smiles", ["C[SH](C)C", "C[SH](=O)=O", "CC(C)[SH]1CCCC1"])
def test_hypervalent_sulfur_the_model_makes_encodes_with_plain_symbols(smiles):
    """The model makes `C[SH](C)C` from `[S]` with three bonds, but its canonical SELFIES needs
    `[SH1]`, outside a vocabulary without it: the implicit-hydrogen spelling must encode, and
    decode back to the very same molecule."""
    plain = [
        "[C][S][Branch1][C][C][C]",
        "[C][=O]",
        "[C][C][=Branch1][C][=O][O]",
        "[C][C][C][C][C][Ring1][Branch1]",
    ]
    tokenizer = SelfiesTokenizer.from_selfies(plain)
    assert "[SH1]" in to_selfies(smiles) and "[SH1]" not in tokenizer.vocab
    ids = tokenizer.from_design(smiles)
    assert ids is not None and tokenizer.to_design(ids) == canonical_smiles(smiles)
    assert tokenizer.from_design("C[NH3+]") is None  # a charge is never dropped to fit


def test_padding_and_decode_skip_pad(tokenizer):
    ids = [tokenizer.from_design("CCO"), tokenizer.from_design("c1ccccc1")]
    tokens, lengths = tokenizer.pad(ids)
    assert tokens.shape == (2, max(map(len, ids))) and lengths.tolist() == [len(i) for i in ids]
    assert (tokens[0, lengths[0] :] == PAD_ID).all()
    assert tokenizer.to_design(tokens[0].tolist()) == "CCO"
    with pytest.raises(ValueError, match="mask"):
        tokenizer.decode([MASK_ID])


def test_state_dict_round_trip(tokenizer):
    assert SelfiesTokenizer.from_state_dict(tokenizer.state_dict()).vocab == tokenizer.vocab
