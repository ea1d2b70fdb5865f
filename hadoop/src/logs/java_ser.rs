//! Just enough of Java's object serialization stream (`ObjectOutputStream`) to read the
//! index the indexed log format writes: objects of serializable classes, strings, enums,
//! back references, and the block data that `ArrayList` and `HashMap` write their
//! elements with. Class descriptors give field names, so fields are read by name.

use std::collections::HashMap;
use std::rc::Rc;

const MAGIC: [u8; 4] = [0xAC, 0xED, 0x00, 0x05];
const FIRST_HANDLE: i32 = 0x7E_0000;

const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_BLOCKDATA: u8 = 0x77;
const TC_ENDBLOCKDATA: u8 = 0x78;
const TC_BLOCKDATALONG: u8 = 0x7A;
const TC_LONGSTRING: u8 = 0x7C;
const TC_ENUM: u8 = 0x7E;

/// The class writes more after its fields (ends with `TC_ENDBLOCKDATA`).
const SC_WRITE_METHOD: u8 = 0x01;

/// A value read from the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Enum(String),
    Object(Rc<Object>),
}

/// An object: its class, its fields by name, and what its classes wrote after their
/// fields (objects and block data, in order), for collections.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: String,
    pub fields: HashMap<String, Value>,
    pub extra: Vec<Extra>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Extra {
    Block(Vec<u8>),
    Value(Value),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
}

impl Object {
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// The objects written after the fields: a list's elements, a map's keys and values
    /// alternating.
    pub fn elements(&self) -> Vec<&Value> {
        self.extra
            .iter()
            .filter_map(|e| match e {
                Extra::Value(v) => Some(v),
                Extra::Block(_) => None,
            })
            .collect()
    }
}

#[derive(Debug)]
struct ClassDesc {
    name: String,
    flags: u8,
    fields: Vec<(u8, String)>,
    parent: Option<Rc<ClassDesc>>,
}

/// What a handle stands for.
#[derive(Debug, Clone)]
enum Handle {
    Class(Rc<ClassDesc>),
    Value(Value),
    /// Assigned, not yet complete (an object being read).
    Pending,
}

/// Reads the one object the stream holds.
pub fn read_object(bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() < 4 || bytes[..4] != MAGIC {
        return Err("not a Java serialization stream".into());
    }
    let mut r = Reader {
        bytes,
        pos: 4,
        handles: Vec::new(),
        depth: 0,
    };
    r.content()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    handles: Vec<Handle>,
    depth: usize,
}

/// Nesting deeper than this is not an index; refuse rather than recurse without bound.
const MAX_DEPTH: usize = 64;

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("stream ends early at byte {}", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<i64, String> {
        let bytes = self.take(n)?;
        let high = bytes[0] as i8 as i64;
        Ok(bytes[1..]
            .iter()
            .fold(high, |acc, b| (acc << 8) | *b as i64))
    }

    fn utf(&mut self, len: usize) -> Result<String, String> {
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn short_utf(&mut self) -> Result<String, String> {
        let len = self.be(2)? as u16 as usize;
        self.utf(len)
    }

    fn new_handle(&mut self, h: Handle) -> usize {
        self.handles.push(h);
        self.handles.len() - 1
    }

    fn handle(&mut self) -> Result<Handle, String> {
        let at = self.pos;
        let n = self.be(4)? as i32;
        usize::try_from(n - FIRST_HANDLE)
            .ok()
            .and_then(|i| self.handles.get(i).cloned())
            .ok_or_else(|| format!("unknown back reference at byte {at}"))
    }

    fn content(&mut self) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("objects nest too deeply".into());
        }
        let value = self.content_inner();
        self.depth -= 1;
        value
    }

    fn content_inner(&mut self) -> Result<Value, String> {
        let at = self.pos;
        match self.u8()? {
            TC_NULL => Ok(Value::Null),
            TC_REFERENCE => match self.handle()? {
                Handle::Value(v) => Ok(v),
                Handle::Class(c) => Ok(Value::Str(c.name.clone())),
                Handle::Pending => Err(format!("reference to an unfinished object at byte {at}")),
            },
            TC_STRING => {
                let s = Value::Str(self.short_utf()?);
                self.new_handle(Handle::Value(s.clone()));
                Ok(s)
            }
            TC_LONGSTRING => {
                let len = usize::try_from(self.be(8)?).map_err(|_| "bad string length")?;
                let s = Value::Str(self.utf(len)?);
                self.new_handle(Handle::Value(s.clone()));
                Ok(s)
            }
            TC_ENUM => {
                self.class_desc()?;
                let slot = self.new_handle(Handle::Pending);
                let name = self.content()?;
                let value = Value::Enum(name.as_str().unwrap_or_default().to_string());
                self.handles[slot] = Handle::Value(value.clone());
                Ok(value)
            }
            TC_OBJECT => self.object(),
            other => Err(format!("unsupported tag {other:#04x} at byte {at}")),
        }
    }

    fn class_desc(&mut self) -> Result<Option<Rc<ClassDesc>>, String> {
        let at = self.pos;
        match self.u8()? {
            TC_NULL => Ok(None),
            TC_REFERENCE => match self.handle()? {
                Handle::Class(c) => Ok(Some(c)),
                _ => Err(format!("a class reference that is no class at byte {at}")),
            },
            TC_CLASSDESC => {
                let name = self.short_utf()?;
                let _serial_version = self.be(8)?;
                let slot = self.new_handle(Handle::Pending);
                let flags = self.u8()?;
                let count = self.be(2)? as u16;
                let mut fields = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let code = self.u8()?;
                    let field = self.short_utf()?;
                    if code == b'L' || code == b'[' {
                        self.content()?; // the field's type signature
                    }
                    fields.push((code, field));
                }
                self.skip_annotation()?;
                let parent = self.class_desc()?;
                let desc = Rc::new(ClassDesc {
                    name,
                    flags,
                    fields,
                    parent,
                });
                self.handles[slot] = Handle::Class(desc.clone());
                Ok(Some(desc))
            }
            other => Err(format!("expected a class at byte {at}, found {other:#04x}")),
        }
    }

    fn skip_annotation(&mut self) -> Result<(), String> {
        self.extra().map(|_| ())
    }

    /// Block data and objects up to `TC_ENDBLOCKDATA`.
    fn extra(&mut self) -> Result<Vec<Extra>, String> {
        let mut out = Vec::new();
        loop {
            match self.bytes.get(self.pos) {
                Some(&TC_ENDBLOCKDATA) => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(&TC_BLOCKDATA) => {
                    self.pos += 1;
                    let len = self.u8()? as usize;
                    out.push(Extra::Block(self.take(len)?.to_vec()));
                }
                Some(&TC_BLOCKDATALONG) => {
                    self.pos += 1;
                    let len = usize::try_from(self.be(4)?).map_err(|_| "bad block length")?;
                    out.push(Extra::Block(self.take(len)?.to_vec()));
                }
                Some(_) => out.push(Extra::Value(self.content()?)),
                None => return Err("stream ends inside block data".into()),
            }
        }
    }

    fn object(&mut self) -> Result<Value, String> {
        let desc = self.class_desc()?.ok_or("an object without a class")?;
        let slot = self.new_handle(Handle::Pending);
        let mut chain = vec![desc.clone()];
        while let Some(parent) = chain.last().and_then(|c| c.parent.clone()) {
            chain.push(parent);
        }
        let mut fields = HashMap::new();
        let mut extra = Vec::new();
        for class in chain.iter().rev() {
            for (code, name) in &class.fields {
                let value = match code {
                    b'B' | b'Z' => Value::Int(self.be(1)?),
                    b'C' | b'S' => Value::Int(self.be(2)?),
                    b'I' => Value::Int(self.be(4)?),
                    b'J' => Value::Int(self.be(8)?),
                    b'F' => Value::Float(f32::from_bits(self.be(4)? as u32) as f64),
                    b'D' => Value::Float(f64::from_bits(self.be(8)? as u64)),
                    b'L' | b'[' => self.content()?,
                    other => return Err(format!("unknown field type {:?}", *other as char)),
                };
                fields.insert(name.clone(), value);
            }
            if class.flags & SC_WRITE_METHOD != 0 {
                extra.extend(self.extra()?);
            }
        }
        let value = Value::Object(Rc::new(Object {
            class: desc.name.clone(),
            fields,
            extra,
        }));
        self.handles[slot] = Handle::Value(value.clone());
        Ok(value)
    }
}
